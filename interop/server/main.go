// Command server is the Herald node that the Node interop tests (../test) drive with
// the real socket.io-client and ws packages: a herald.Node (Socket.IO at /socket.io/,
// plain WebSocket at /ws and /) with the test events registered. It prints
// "listening ADDR" once it accepts connections. With -redis URL it joins a cluster
// over Redis (herald.Config.RedisURL) and prints "listening" only once its
// namespace-wide subscriptions are in place.
//
// Identity (package auth): -jwt-secret verifies HS256 JWTs (CONNECT auth {token},
// ?token=, Authorization: Bearer, Cookie token=); -session-secret (with -redis) also
// identifies an Express session cookie (express-session + connect-redis, user id at
// -session-user-path); -require-auth refuses anonymous sockets.
//
// -demo mounts the chat demo (package apps/chat: the /chat namespace and the page at
// /); with -jwt-secret, its demo login issues tokens under that secret.
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
	"strings"
	"syscall"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/apps/chat"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/engineio"
	"github.com/heraldhq/herald/socketio"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	maxPayload := flag.Int("max-payload", engineio.DefaultMaxPayload, "Engine.IO maxPayload in bytes")
	pingInterval := flag.Duration("ping-interval", engineio.DefaultPingInterval, "Engine.IO ping interval")
	pingTimeout := flag.Duration("ping-timeout", engineio.DefaultPingTimeout, "Engine.IO ping timeout")
	redisURL := flag.String("redis", "", "join a cluster over this Redis (redis://host:port); empty: single node")
	jwtSecret := flag.String("jwt-secret", "", "verify HS256 JWTs with this secret (at least 32 bytes); empty: no JWT")
	sessionSecrets := flag.String("session-secret", "", "identify Express sessions signed with these secrets (comma-separated, newest first; needs -redis)")
	sessionUserPath := flag.String("session-user-path", "", `dot path of the user id in the session; empty: "passport.user"`)
	requireAuth := flag.Bool("require-auth", false, "refuse anonymous sockets")
	epollReads := flag.Bool("epoll-reads", os.Getenv("HERALD_EPOLL_READS") == "true", "read WebSockets from the epoll loop (default from HERALD_EPOLL_READS=true)")
	demo := flag.Bool("demo", false, "mount the chat demo (/chat, the page at /); with -jwt-secret, its demo login too")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := herald.Config{
		Addr: *addr,
		Engine: engineio.Config{
			MaxPayload:   *maxPayload,
			PingInterval: *pingInterval,
			PingTimeout:  *pingTimeout,
			EpollReads:   *epollReads,
		},
		ShutdownGrace: 2 * time.Second,
		Logger:        log,
		RedisURL:      *redisURL,
		Auth:          auth.Config{JWT: auth.JWTConfig{Secret: []byte(*jwtSecret)}},
		RequireAuth:   *requireAuth,
	}
	if *sessionSecrets != "" {
		cfg.Session = &auth.SessionConfig{Secrets: strings.Split(*sessionSecrets, ","), UserPath: *sessionUserPath}
	}
	var demoCfg *chat.Config
	if *demo {
		demoCfg = &chat.Config{DemoKey: []byte(*jwtSecret), Logger: log}
	}
	if err := run(cfg, demoCfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run serves the node until SIGTERM; demo, when not nil, mounts the chat demo.
func run(cfg herald.Config, demo *chat.Config) error {
	node, err := herald.New(cfg)
	if err != nil {
		return err
	}
	if demo != nil {
		c, err := chat.Mount(node, *demo)
		if err != nil {
			_ = node.Shutdown(context.Background())
			return err
		}
		defer c.Close()
	}
	io := node.IO()
	sync := syncFunc(node)
	register(io.Of("/"), sync)
	registerIdentity(io.Of("/"), node.Auth())
	admin := io.Of("/admin")
	admin.Use(func(s *socketio.Socket) error {
		var creds struct {
			Token string `json:"token"`
		}
		_ = json.Unmarshal(s.Handshake().Auth, &creds)
		if creds.Token != "secret" {
			return &socketio.ConnectError{Message: "unauthorized", Data: map[string]int{"code": 401}}
		}
		return nil
	})
	register(admin, sync)
	registerIdentity(admin, node.Auth())
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	if sync != nil { // subscribed to the namespace channels before "listening"
		if err := sync(); err != nil {
			_ = ln.Close()
			_ = node.Shutdown(context.Background())
			return fmt.Errorf("cluster bus not ready: %w", err)
		}
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

// syncFunc returns a func that waits (bounded) until the node's cluster bus has
// applied every subscription change made so far (rooms joined or left, sockets
// connected: a socket id is a room), or nil for a single node.
func syncFunc(node *herald.Node) func() error {
	c := node.Cluster()
	if c == nil {
		return nil
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return c.Sync(ctx)
	}
}

// ackAfterSync acks ev with args once sync returns (or with {"error": ...}). On a
// single node (sync nil) it acks at once, on the connection's goroutine; clustered
// it waits on another goroutine, so the connection keeps reading meanwhile.
func ackAfterSync(ev *socketio.Event, sync func() error, args ...any) {
	if sync == nil {
		_ = ev.Ack(args...)
		return
	}
	go func() {
		if err := sync(); err != nil {
			_ = ev.Ack(map[string]string{"error": "cluster sync: " + err.Error()})
			return
		}
		_ = ev.Ack(args...)
	}()
}

// arg returns argument i as a payload to re-emit unchanged (binary included); an
// absent argument is null, as JSON.stringify sends undefined in an array.
func arg(ev *socketio.Event, i int) any {
	if ev.Len() > i {
		return socketio.Args{Raw: ev.Raw[i : i+1], Attachments: ev.Attachments}
	}
	return nil
}

// register installs the contract's event handlers on a namespace.
func register(n *socketio.Namespace, sync func() error) {
	n.On("echo", func(s *socketio.Socket, ev *socketio.Event) {
		if !s.Plain() { // a plain WebSocket gets one reply: the ack envelope
			_ = s.Emit("echo", ev.Args)
		}
		if ev.WantsAck() {
			_ = ev.Ack(ev.Args)
		}
	})
	// join and leave ack once the cluster bus has applied the (un)subscription, so a
	// broadcast made on another node after the ack reaches (or skips) this socket.
	n.On("join", func(s *socketio.Socket, ev *socketio.Event) {
		room, _ := ev.String(0)
		s.Join(room)
		ackAfterSync(ev, sync, room)
	})
	n.On("leave", func(s *socketio.Socket, ev *socketio.Event) {
		room, _ := ev.String(0)
		s.Leave(room)
		ackAfterSync(ev, sync, room)
	})
	// sync acks (no arguments) once the cluster bus has applied every subscription
	// change so far, e.g. the channel of this socket's id after it connected.
	n.On("sync", func(s *socketio.Socket, ev *socketio.Event) {
		ackAfterSync(ev, sync)
	})
	// The broadcasts below ack (no arguments) after queuing to local recipients and
	// handing the broadcast to the cluster bus; delivery on other nodes is asynchronous.
	n.On("to-room", func(s *socketio.Socket, ev *socketio.Event) {
		room, _ := ev.String(0)
		_ = s.Namespace().To(room).Emit("room-msg", arg(ev, 1))
		_ = ev.Ack()
	})
	n.On("to-rooms", func(s *socketio.Socket, ev *socketio.Event) {
		var rooms []string
		_ = ev.Decode(0, &rooms)
		_ = s.Namespace().To(rooms...).Emit("room-msg", arg(ev, 1))
		_ = ev.Ack()
	})
	n.On("to-except", func(s *socketio.Socket, ev *socketio.Event) {
		room, _ := ev.String(0)
		except, _ := ev.String(1)
		_ = s.Namespace().To(room).Except(except).Emit("room-msg", arg(ev, 2))
		_ = ev.Ack()
	})
	n.On("to-socket", func(s *socketio.Socket, ev *socketio.Event) {
		id, _ := ev.String(0)
		_ = s.Namespace().To(id).Emit("direct", arg(ev, 1))
		_ = ev.Ack()
	})
	n.On("emit-all", func(s *socketio.Socket, ev *socketio.Event) {
		_ = s.Namespace().Emit("all-msg", arg(ev, 0))
		_ = ev.Ack()
	})
	n.On("ask", func(s *socketio.Socket, ev *socketio.Event) {
		payload := arg(ev, 0)
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

// registerIdentity installs the identity events (see the contract in ../README.md). a
// is nil when no credential is configured: the broadcasts then ack
// {"error": "auth not configured"} and reply is a plain echo ack.
func registerIdentity(n *socketio.Namespace, a *auth.Authenticator) {
	// broadcast runs emit and acks (no arguments) once the broadcast is queued to
	// local recipients and handed to the cluster bus.
	broadcast := func(ev *socketio.Event, emit func() error) {
		if a == nil {
			_ = ev.Ack(map[string]string{"error": "auth not configured"})
			return
		}
		if err := emit(); err != nil {
			_ = ev.Ack(map[string]string{"error": err.Error()})
			return
		}
		_ = ev.Ack()
	}
	n.On("to-user", func(s *socketio.Socket, ev *socketio.Event) {
		user, _ := ev.String(0)
		broadcast(ev, func() error { return a.ToUsers(s.Namespace(), user).Emit("user-msg", arg(ev, 1)) })
	})
	n.On("to-authenticated", func(s *socketio.Socket, ev *socketio.Event) {
		broadcast(ev, func() error { return a.ToAuthenticated(s.Namespace()).Emit("auth-msg", arg(ev, 0)) })
	})
	n.On("to-other-tabs", func(s *socketio.Socket, ev *socketio.Event) {
		broadcast(ev, func() error { return a.ToOtherTabs(s).Emit("tab-msg", arg(ev, 0)) })
	})
	n.On("me", func(s *socketio.Socket, ev *socketio.Event) {
		_ = ev.Ack(map[string]string{"id": s.ID(), "user": s.User()})
	})
	// reply acks its argument; PropagateReplies also sends that reply, as a "reply"
	// event, to the caller's other sockets (its user's other tabs, on every node).
	reply := func(s *socketio.Socket, ev *socketio.Event) { _ = ev.Ack(arg(ev, 0)) }
	if a != nil {
		reply = a.PropagateReplies(reply)
	}
	n.On("reply", reply)
}
