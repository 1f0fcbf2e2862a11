// Command engineio-echo is an Engine.IO v4 echo server with no Socket.IO layer, like a
// server written with Node's engine.io package: each text or binary message a client
// sends comes back to it unchanged, on polling and WebSocket alike.
//
// Run it:
//
//	go run ./examples/engineio-echo -addr :3000
//
// and try it with the official client (npm install engine.io-client):
//
//	const { Socket } = require("engine.io-client");
//	const socket = new Socket("ws://localhost:3000", { path: "/engine.io/" });
//	socket.on("open", () => {
//	  socket.send("hello");
//	  socket.send(new Uint8Array([1, 2, 3]));
//	});
//	socket.on("message", (data) => console.log("echo:", data));
//
// or by hand with curl, over long-polling:
//
//	curl 'http://localhost:3000/engine.io/?EIO=4&transport=polling'         # 0{"sid":"SID",...}
//	curl -d 4hello 'http://localhost:3000/engine.io/?EIO=4&transport=polling&sid=SID'
//	curl 'http://localhost:3000/engine.io/?EIO=4&transport=polling&sid=SID' # 4hello
//
// The server stops on SIGINT or SIGTERM, closing every session first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/heraldhq/herald/engineio"
)

// echoHandler implements engineio.Handler. The server never calls it concurrently for
// one session, but does for different sessions; it keeps no state, so it needs no lock.
type echoHandler struct{ log *slog.Logger }

func (h echoHandler) OnOpen(s *engineio.Session) {
	h.log.Info("open", "sid", s.ID(), "transport", s.Transport())
}

// OnMessage echoes the message. data is only valid during the call; SendMessage and
// SendBinary copy it into the frame they queue, so it can be passed straight on.
func (h echoHandler) OnMessage(s *engineio.Session, data []byte, binary bool) {
	if binary {
		_ = s.SendBinary(data)
		return
	}
	_ = s.SendMessage(data)
}

func (h echoHandler) OnClose(s *engineio.Session, reason engineio.Reason) {
	h.log.Info("close", "sid", s.ID(), "reason", reason.String())
}

func main() {
	addr := flag.String("addr", ":3000", "listen address")
	grace := flag.Duration("grace", 5*time.Second, "how long shutdown waits for clients")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *grace, log); err != nil {
		log.Error("engineio-echo: " + err.Error())
		os.Exit(1)
	}
}

func run(addr string, grace time.Duration, log *slog.Logger) error {
	eio, err := engineio.New(engineio.Config{Logger: log}, echoHandler{log: log})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/engine.io/", eio)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err = errors.Join(eio.Shutdown(sctx), hs.Shutdown(sctx))
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
