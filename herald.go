// Package herald assembles a Herald node: the Socket.IO server (Engine.IO v4 +
// Socket.IO v5), the plain WebSocket endpoint and the HTTP routes, from one Config.
// cmd/herald is a thin binary over it; a Go application can embed a Node and register
// its own handlers on Node.IO().
//
// Packages underneath, each usable on its own:
//   - engineio: Engine.IO sessions and transports (like Node's engine.io);
//   - socketio: namespaces, sockets, rooms, acks, broadcasts (like Node's socket.io);
//   - plainws: the {"event","data"} JSON WebSocket endpoint (NestJS WsAdapter shape).
package herald

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/bus"
	"github.com/heraldhq/herald/bus/redis"
	"github.com/heraldhq/herald/cluster"
	"github.com/heraldhq/herald/engineio"
	"github.com/heraldhq/herald/internal/sioclient"
	"github.com/heraldhq/herald/plainws"
	"github.com/heraldhq/herald/socketio"
)

// Defaults for Config.
const (
	DefaultAddr          = ":3000"
	DefaultPath          = "/socket.io/"
	DefaultPlainWSPath   = "/ws"
	DefaultShutdownGrace = 10 * time.Second
)

// Config configures a Node. The zero value is usable; New fills in the defaults.
type Config struct {
	// Addr is the listen address. Empty means ":3000" (all interfaces, IPv4 and IPv6).
	Addr string
	// Path is the Engine.IO path. Empty means "/socket.io/".
	Path string
	// PlainWSPath is the plain WebSocket endpoint's path. Empty means "/ws". WebSocket
	// upgrade requests to "/" are served by it too, so NestJS WsAdapter clients that
	// connect to the bare host work unchanged.
	PlainWSPath string
	// PlainWSNamespace is the namespace plain WebSocket connections join. Empty means "/".
	PlainWSNamespace string
	// Engine configures Engine.IO (ping interval and timeout, max payload, transports,
	// CORS, per-socket write queue).
	Engine engineio.Config
	// ConnectTimeout: see socketio.Config. Zero means 45s.
	ConnectTimeout time.Duration
	// ShutdownGrace is how long Shutdown waits for clients after telling them to
	// reconnect. Zero means 10s.
	ShutdownGrace time.Duration
	// RedisURL joins the node to a cluster over Redis pub/sub, in the wire format of
	// @socket.io/redis-adapter 8, so Herald nodes, Node.js socket.io servers with that
	// adapter and @socket.io/redis-emitter share one cluster. "host:port" or
	// redis://... Empty means a single node (no bus).
	RedisURL string
	// ClusterKey is the bus channel prefix (the redis-adapter's key). Empty means
	// "socket.io".
	ClusterKey string
	// Bus, when set, is used instead of RedisURL to create the cluster bus (for example
	// bus/memory for several nodes in one process).
	Bus cluster.NewBus
	// Auth identifies sockets (JWT, see auth.JWTConfig). With a key source or a
	// session configured, every namespace identifies its sockets and joins
	// authenticated ones to their audience rooms.
	Auth auth.Config
	// Session, when set, also identifies sockets by an Express session stored in the
	// Redis at RedisURL (express-session + connect-redis).
	Session *auth.SessionConfig
	// RequireAuth refuses anonymous sockets on every namespace. The default admits
	// them (they join no audience room); auth.RequireUser makes one namespace strict.
	RequireAuth bool
	// APIKeys enables the HTTP API for backends (package api, docs/API.md): the bearer
	// keys it accepts, several so keys can rotate. Empty disables the API: its routes
	// answer 404.
	APIKeys []string
	// APIAddr is the API's own listen address (for example an internal port), opened
	// by Serve. Empty means the API shares the main listener under /api/v1/.
	APIAddr string
	// DisableClient stops serving the socket.io-client browser bundle. By default a
	// node serves it at <Path>socket.io.min.js (and its source map), as Node's
	// socket.io does (serveClient: true), so a page can load the client from the node
	// it talks to; see package internal/sioclient.
	DisableClient bool
	// Logger; nil discards.
	Logger *slog.Logger
}

// Node is one Herald instance.
type Node struct {
	cfg     Config
	log     *slog.Logger
	io      *socketio.Server
	plain   *plainws.Server
	cluster *cluster.Adapter
	auth    *auth.Authenticator
	mux     *http.ServeMux
	handler http.Handler // mux, with WebSocket upgrades to "/" sent to plain first
	http    *http.Server

	api     *api.Server  // nil when the API is disabled
	apiHTTP *http.Server // the API's own server when APIAddr is set
	apiLn   atomic.Pointer[net.Listener]
	apiWG   sync.WaitGroup // the API server's Serve goroutine

	acceptor atomic.Pointer[acceptor] // the main listener's, once Serve runs
}

// New builds a Node. It does not listen until Serve or ListenAndServe.
func New(cfg Config) (*Node, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if !strings.HasSuffix(cfg.Path, "/") {
		cfg.Path += "/"
	}
	if cfg.PlainWSPath == "" {
		cfg.PlainWSPath = DefaultPlainWSPath
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	io, err := socketio.New(socketio.Config{Engine: cfg.Engine, ConnectTimeout: cfg.ConnectTimeout, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	ecfg := io.Engine().Config()
	plain, err := plainws.New(io, plainws.Config{
		Namespace:          cfg.PlainWSNamespace,
		MaxPayload:         ecfg.MaxPayload,
		WriteQueueBytes:    ecfg.WriteQueueBytes,
		WriteTimeout:       ecfg.WriteTimeout,
		WriteWorkers:       ecfg.WriteWorkers,
		WriteDelay:         ecfg.WriteDelay,
		AdaptiveWriteDelay: ecfg.AdaptiveWriteDelay,
		PingInterval:       ecfg.PingInterval,
		PingTimeout:        ecfg.PingTimeout,
		Logger:             cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger, io: io, plain: plain, mux: http.NewServeMux()}
	newBus := cfg.Bus
	if newBus == nil && cfg.RedisURL != "" {
		newBus = func(h bus.Handler) (bus.Bus, error) {
			return redis.New(redis.Config{URL: cfg.RedisURL, Logger: cfg.Logger}, h)
		}
	}
	if newBus != nil {
		if n.cluster, err = cluster.New(io, newBus, cluster.Config{Key: cfg.ClusterKey, Address: cfg.Addr, Logger: cfg.Logger}); err != nil {
			return nil, err
		}
		// Be subscribed to the namespaces' channels before taking clients: until then
		// other nodes would not count this one in their requests.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = n.cluster.Sync(ctx)
		cancel()
		if err != nil {
			_ = n.cluster.Close()
			return nil, fmt.Errorf("herald: subscribing on the cluster bus: %w", err)
		}
	}
	if err := n.setupAuth(); err != nil {
		if n.cluster != nil {
			_ = n.cluster.Close()
		}
		return nil, err
	}
	if err := n.setupAPI(); err != nil {
		if n.cluster != nil {
			_ = n.cluster.Close()
		}
		if n.auth != nil {
			n.auth.Close()
		}
		return nil, err
	}
	n.mux.Handle(cfg.Path, io)
	if !cfg.DisableClient {
		for _, name := range []string{sioclient.BundleName, sioclient.SourceMapName} {
			n.mux.Handle(sioclient.Pattern(cfg.Path, name), sioclient.NewHandler(name))
		}
	}
	n.mux.Handle(cfg.PlainWSPath, plain)
	n.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	n.mux.HandleFunc("/", http.NotFound)
	// WebSocket upgrades to "/" go to the plain endpoint before the mux, so the routes
	// added with Mux (such as a page at "GET /{$}") never see them.
	n.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			plain.ServeHTTP(w, r)
			return
		}
		n.mux.ServeHTTP(w, r)
	})
	n.http = &http.Server{Handler: n.handler, ReadHeaderTimeout: 10 * time.Second}
	return n, nil
}

// IO returns the Socket.IO server, to add namespaces, middlewares and handlers.
func (n *Node) IO() *socketio.Server { return n.io }

// setupAuth builds the authenticator and installs it on every namespace.
func (n *Node) setupAuth() error {
	acfg := n.cfg.Auth
	if acfg.Logger == nil {
		acfg.Logger = n.log
	}
	if n.cfg.Session != nil {
		if n.cluster == nil {
			return errors.New("herald: sessions live in Redis: set RedisURL with Session")
		}
		rb, ok := n.cluster.Bus().(*redis.Bus)
		if !ok {
			return errors.New("herald: sessions need the Redis bus")
		}
		store, err := auth.NewSessionStore(*n.cfg.Session, rb.Client())
		if err != nil {
			return err
		}
		acfg.Session = store
	}
	a, err := auth.New(acfg)
	if err != nil {
		return err
	}
	if !a.Enabled() {
		if n.cfg.RequireAuth {
			return errors.New("herald: RequireAuth without a JWT key source or a session to verify")
		}
		return nil
	}
	n.auth = a
	n.io.Use(a.Middleware(auth.Policy{AllowAnonymous: !n.cfg.RequireAuth}))
	return nil
}

// setupAPI builds the HTTP API when keys are configured and mounts it on the main
// routes, or on its own server when APIAddr is set. Without keys, its routes answer
// 404 with a JSON error that says why.
func (n *Node) setupAPI() error {
	if len(n.cfg.APIKeys) == 0 {
		n.mux.HandleFunc(api.Prefix, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"the HTTP API is disabled (no API key configured)"}` + "\n"))
		})
		return nil
	}
	a, err := api.New(api.Config{Keys: n.cfg.APIKeys, IO: n.io, Cluster: n.cluster, Auth: n.auth, Logger: n.log})
	if err != nil {
		return err
	}
	n.api = a
	if n.cfg.APIAddr == "" {
		n.mux.Handle(api.Prefix, a)
		return nil
	}
	n.apiHTTP = &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// API returns the node's HTTP API handler, or nil when no API key is configured.
func (n *Node) API() *api.Server { return n.api }

// APIListenAddr returns the address of the API's own listener once Serve has opened
// it, nil otherwise (no APIAddr, or before Serve).
func (n *Node) APIListenAddr() net.Addr {
	if ln := n.apiLn.Load(); ln != nil {
		return (*ln).Addr()
	}
	return nil
}

// serveAPI opens the API's own listener and serves it until Shutdown.
func (n *Node) serveAPI() error {
	ln, err := net.Listen("tcp", n.cfg.APIAddr)
	if err != nil {
		return err
	}
	n.apiLn.Store(&ln)
	n.log.Info("herald: HTTP API listening", "addr", ln.Addr().String(), "path", api.Prefix)
	n.apiWG.Add(1)
	go func() {
		defer n.apiWG.Done()
		if err := n.apiHTTP.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("herald: HTTP API stopped", "err", err)
		}
	}()
	return nil
}

// Auth returns the node's authenticator (audience rooms, ToUsers, ToOtherTabs), or nil
// when no credential is configured.
func (n *Node) Auth() *auth.Authenticator { return n.auth }

// Cluster returns the node's cluster adapter, or nil for a single node.
func (n *Node) Cluster() *cluster.Adapter { return n.cluster }

// Mux returns the node's HTTP routes, to add more. "/" answers 404 for any path no
// other route matches; a route for "GET /{$}" may serve a page, as WebSocket upgrades
// to "/" reach the plain WebSocket endpoint without passing through the mux.
func (n *Node) Mux() *http.ServeMux { return n.mux }

// Handler returns the node's HTTP handler: the routes of Mux, and WebSocket upgrades
// to "/" to the plain WebSocket endpoint.
func (n *Node) Handler() http.Handler { return n.handler }

// Config returns the node's configuration with defaults filled in.
func (n *Node) Config() Config { return n.cfg }

// Serve accepts connections on ln until Shutdown. On a plain TCP or Unix listener,
// WebSocket handshakes that open a new Engine.IO session are answered straight from the
// socket (see accept.go); everything else is served by net/http.
func (n *Node) Serve(ln net.Listener) error {
	switch {
	case n.api == nil:
		n.log.Info("herald: HTTP API disabled (no API key configured)")
	case n.apiHTTP != nil:
		if err := n.serveAPI(); err != nil {
			return err
		}
	default:
		n.log.Info("herald: HTTP API on the main listener", "path", api.Prefix)
	}
	n.log.Info("herald: listening", "addr", ln.Addr().String(), "path", n.cfg.Path, "ws", n.cfg.PlainWSPath)
	if plainSockets(ln) {
		a := newAcceptor(ln, n.http.ReadHeaderTimeout, n.log, n.direct, n.io.Engine().ServeConn)
		n.acceptor.Store(a)
		ln = a
	}
	if err := n.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// plainSockets reports whether ln hands out plain TCP or Unix sockets, the ones the
// acceptor serves; a TLS or otherwise wrapping listener goes to net/http untouched (it
// knows a *tls.Conn for HTTP/2 and Request.TLS, and such connections could not be
// read by epoll anyway).
func plainSockets(ln net.Listener) bool {
	switch ln.(type) {
	case *net.TCPListener, *net.UnixListener:
		return true
	}
	return false
}

// direct says whether the acceptor serves r, a connection's first request, with
// engineio.Server.ServeConn: a WebSocket handshake without a body that opens a new
// session on the Engine.IO path, as the node's handler would route it.
func (n *Node) direct(r *http.Request) bool {
	if r.Method != http.MethodGet || r.ContentLength != 0 || len(r.TransferEncoding) > 0 || !r.ProtoAtLeast(1, 1) ||
		r.Host == "" || r.URL.Path == "/" || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	if q := r.URL.Query(); q.Get("transport") != engineio.TransportWebSocket || q.Get("sid") != "" {
		return false
	}
	h, _ := n.mux.Handler(r) // a redirect (a path to clean) comes back with the pattern it leads to
	return h == http.Handler(n.io)
}

// ListenAndServe listens on Config.Addr and serves until ctx is done, then shuts down
// gracefully within Config.ShutdownGrace.
func (n *Node) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", n.cfg.Addr)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- n.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownGrace)
	defer cancel()
	serr := n.Shutdown(sctx)
	if err := <-errc; err != nil {
		return err
	}
	return serr
}

// Shutdown stops accepting connections, tells every client to reconnect (Engine.IO
// close, WebSocket close 1001), and waits for them until ctx is done.
func (n *Node) Shutdown(ctx context.Context) error {
	n.log.Info("herald: shutting down", "sockets", n.io.Engine().Count()+n.plain.Count())
	err := errors.Join(n.io.Shutdown(ctx), n.plain.Shutdown(ctx), n.http.Shutdown(ctx))
	if n.apiHTTP != nil {
		err = errors.Join(err, n.apiHTTP.Shutdown(ctx))
		n.apiWG.Wait()
	}
	if n.cluster != nil {
		err = errors.Join(err, n.cluster.Close())
	}
	if n.auth != nil {
		n.auth.Close()
	}
	return err
}
