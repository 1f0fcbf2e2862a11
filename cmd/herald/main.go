// Command herald runs a Herald node: Socket.IO v5 over Engine.IO v4 at /socket.io/ and
// a plain WebSocket {event,data} endpoint at /ws, configured from the environment
// (HERALD_*), with flags that override it. Run `herald -help` for the list.
//
// `herald emit` sends one event through a node's HTTP API (docs/API.md); run
// `herald emit -help` for its flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"reflect"
	"syscall"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/apps/bench"
	"github.com/heraldhq/herald/apps/chat"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "emit" {
		os.Exit(runEmit(os.Args[2:], os.Environ(), os.Stdout, os.Stderr))
	}
	s, err := loadSettings(os.Args[1:], os.Environ(), os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald: configuration:", err)
		os.Exit(2)
	}
	log := s.logger(os.Stderr)
	node, stopApps, err := newNode(s, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(2)
	}
	if s.DebugAddr != "" {
		go serveDebug(s.DebugAddr, log)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// The demo stops as shutdown begins, so its cluster requests are over before the
	// node closes its cluster adapter.
	context.AfterFunc(ctx, stopApps)
	err = node.ListenAndServe(ctx)
	stopApps() // when serving failed (idempotent)
	if err != nil {
		log.Error("herald: stopped", "err", err)
		os.Exit(1)
	}
}

// newNode builds the node the settings describe, with the optional namespaces and
// the chat demo. stop ends the demo's background work (idempotent): call it when the
// node stops. A nil log discards.
func newNode(s settings, log *slog.Logger) (node *herald.Node, stop func(), err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	node, err = herald.New(s.config(log))
	if err != nil {
		return nil, nil, err
	}
	stop = func() {}
	if s.Bench {
		bench.Register(node.IO())
		log.Warn("herald: load-test namespace registered (HERALD_BENCH); not for production", "namespace", bench.Namespace)
	}
	if s.Demo {
		c, err := chat.Mount(node, chat.Config{DemoKey: s.demoKey, Logger: log})
		if err != nil {
			_ = node.Shutdown(context.Background())
			return nil, nil, err
		}
		stop = c.Close
		log.Warn("herald: chat demo on: the page at /, the namespace /chat and a demo login; not for production; HERALD_DEMO=false turns it off",
			"login", c.LoginEnabled())
		if src := s.identitySource(); src != "" {
			log.Info("herald: demo login off: identities come from a real source", "source", src)
		}
	}
	return node, stop, nil
}

// serveDebug serves net/http/pprof on its own listener, apart from client traffic.
func serveDebug(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("herald: debug endpoints", "addr", addr)
	if err := http.ListenAndServe(addr, mux); err != nil {
		log.Error("herald: debug listener", "err", err)
	}
}

func reflectSettings() reflect.Type { return reflect.TypeFor[settings]() }
