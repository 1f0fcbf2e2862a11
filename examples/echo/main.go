// Command echo is a Socket.IO echo server: every event a client emits is emitted back
// to that client with the same arguments (binary attachments included), and an event
// sent with an acknowledgement is also acknowledged with those arguments.
//
// It registers one catch-all handler (Namespace.OnAny), so any event name works.
//
// Run it:
//
//	go run ./examples/echo -addr :3000
//
// and try it with the official client (npm install socket.io-client):
//
//	const { io } = require("socket.io-client");
//	const socket = io("http://localhost:3000");
//	socket.on("echo", (...args) => console.log("echo event:", args));
//	socket.on("connect", async () => {
//	  socket.emit("echo", "hello", Buffer.from([1, 2, 3]));
//	  const reply = await socket.emitWithAck("echo", { n: 1 });
//	  console.log("ack:", reply);
//	  socket.close();
//	});
//
// The server stops on SIGINT or SIGTERM: it tells every client to reconnect
// (Engine.IO close) and waits up to -grace for them before exiting.
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

	"github.com/heraldhq/herald/socketio"
)

func main() {
	addr := flag.String("addr", ":3000", "listen address")
	grace := flag.Duration("grace", 5*time.Second, "how long shutdown waits for clients")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *grace, log); err != nil {
		log.Error("echo: " + err.Error())
		os.Exit(1)
	}
}

func run(addr string, grace time.Duration, log *slog.Logger) error {
	io, err := socketio.New(socketio.Config{Logger: log})
	if err != nil {
		return err
	}
	nsp := io.Of("/")
	nsp.OnAny(echo)
	nsp.OnConnection(func(s *socketio.Socket) {
		log.Info("connected", "id", s.ID(), "transport", s.Transport())
		s.OnDisconnect(func(s *socketio.Socket, reason string) {
			log.Info("disconnected", "id", s.ID(), "reason", reason)
		})
	})

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io)
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
	case err := <-errc: // Serve failed before any signal
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "clients", io.Engine().Count())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	// Socket.IO first: Shutdown closes the sessions (hijacked WebSockets and polling
	// requests alike), then the http.Server stops accepting and drains the rest.
	err = errors.Join(io.Shutdown(sctx), hs.Shutdown(sctx))
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// echo sends the event back to its sender and answers its ack, if any. ev.Args is
// passed as a single argument: an Args value expands to the arguments it holds, binary
// attachments included.
func echo(s *socketio.Socket, ev *socketio.Event) {
	_ = s.Emit(ev.Name, ev.Args)
	if ev.WantsAck() {
		_ = ev.Ack(ev.Args)
	}
}
