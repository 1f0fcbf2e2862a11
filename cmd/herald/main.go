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
	node, err := newNode(s, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(2)
	}
	if s.DebugAddr != "" {
		go serveDebug(s.DebugAddr, log)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := node.ListenAndServe(ctx); err != nil {
		log.Error("herald: stopped", "err", err)
		os.Exit(1)
	}
}

// newNode builds the node the settings describe, with the optional namespaces.
func newNode(s settings, log *slog.Logger) (*herald.Node, error) {
	node, err := herald.New(s.config(log))
	if err != nil {
		return nil, err
	}
	if s.Bench {
		bench.Register(node.IO())
		log.Warn("herald: load-test namespace registered (HERALD_BENCH); not for production", "namespace", bench.Namespace)
	}
	return node, nil
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
