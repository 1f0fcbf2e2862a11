// Command server is the Herald node that the Node interop tests (../test) drive with
// the real socket.io-client and ws packages: a herald.Node (Socket.IO at /socket.io/,
// plain WebSocket at /ws and /) with the test events registered. It prints
// "listening ADDR" once it accepts connections.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/engineio"
	"github.com/heraldhq/herald/socketio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	maxPayload := flag.Int("max-payload", engineio.DefaultMaxPayload, "Engine.IO maxPayload in bytes")
	pingInterval := flag.Duration("ping-interval", engineio.DefaultPingInterval, "Engine.IO ping interval")
	pingTimeout := flag.Duration("ping-timeout", engineio.DefaultPingTimeout, "Engine.IO ping timeout")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(*addr, socketio.Config{
		Engine: engineio.Config{
			MaxPayload:   *maxPayload,
			PingInterval: *pingInterval,
			PingTimeout:  *pingTimeout,
		},
		Logger: log,
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(addr string, cfg socketio.Config) error {
	node, err := herald.New(herald.Config{Addr: addr, Engine: cfg.Engine, ShutdownGrace: 2 * time.Second, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	io := node.IO()
	register(io.Of("/"))
	admin := io.Of("/admin")
	admin.Use(func(s *socketio.Socket) error {
		var auth struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(s.Handshake().Auth, &auth)
		if auth.Token != "secret" {
			return &socketio.ConnectError{Message: "unauthorized", Data: map[string]int{"code": 401}}
		}
		return nil
	})
	register(admin)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = node.Shutdown(sctx)
	}()
	return node.Serve(ln)
}

// register installs the contract's event handlers on a namespace.
func register(n *socketio.Namespace) {
	n.On("echo", func(s *socketio.Socket, ev *socketio.Event) {
		if !s.Plain() { // a plain WebSocket gets one reply: the ack envelope
			_ = s.Emit("echo", ev.Args)
		}
		if ev.WantsAck() {
			_ = ev.Ack(ev.Args)
		}
	})
	n.On("join", func(s *socketio.Socket, ev *socketio.Event) {
		room, _ := ev.String(0)
		s.Join(room)
		_ = ev.Ack(room)
	})
	n.On("leave", func(s *socketio.Socket, ev *socketio.Event) {
		room, _ := ev.String(0)
		s.Leave(room)
		_ = ev.Ack(room)
	})
	n.On("to-room", func(s *socketio.Socket, ev *socketio.Event) {
		room, _ := ev.String(0)
		var payload any // absent: null, as JSON.stringify sends undefined in an array
		if ev.Len() > 1 {
			payload = socketio.Args{Raw: ev.Raw[1:2], Attachments: ev.Attachments}
		}
		_ = s.Namespace().To(room).Emit("room-msg", payload)
		_ = ev.Ack()
	})
	n.On("ask", func(s *socketio.Socket, ev *socketio.Event) {
		var payload any
		if ev.Len() > 0 {
			payload = socketio.Args{Raw: ev.Raw[:1], Attachments: ev.Attachments}
		}
		go func() { // EmitWithAck waits for this client: not on its read goroutine
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			answer, err := s.EmitWithAck(ctx, "question", payload)
			if err != nil {
				_ = ev.Ack(map[string]string{"error": "timeout"})
				return
			}
			_ = ev.Ack(answer)
		}()
	})
	n.On("whoami", func(s *socketio.Socket, ev *socketio.Event) {
		query := map[string]string{}
		for k, v := range s.Handshake().Query() {
			if len(v) > 0 {
				query[k] = v[0]
			}
		}
		_ = ev.Ack(map[string]any{
			"id":        s.ID(),
			"auth":      s.Handshake().Auth,
			"query":     query,
			"transport": s.Transport(),
		})
	})
	n.On("disconnect-me", func(s *socketio.Socket, ev *socketio.Event) {
		var closeConn bool
		_ = ev.Decode(0, &closeConn)
		s.Disconnect(closeConn)
	})
}
