package socketio

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/engineio"
)

// DefaultConnectTimeout is how long a connection may stay without joining any
// namespace before it is closed (socket.io connectTimeout).
const DefaultConnectTimeout = 45 * time.Second

// Config configures a Server. The zero value is usable.
type Config struct {
	// Engine configures the Engine.IO layer. Its Logger defaults to Logger.
	Engine engineio.Config
	// ConnectTimeout: see DefaultConnectTimeout. Zero means the default.
	ConnectTimeout time.Duration
	// MaxAttachments bounds the binary attachments of one packet. Zero means
	// DefaultMaxAttachments (10, as socket.io-parser).
	MaxAttachments int
	// Logger receives the server's logs. Nil discards them.
	Logger *slog.Logger
}

// Server is a Socket.IO v5 server. Mount it (it is an http.Handler) on the Engine.IO
// path, by default "/socket.io/". Its methods are safe for concurrent use; handlers for
// different connections run concurrently, those of one connection one at a time.
type Server struct {
	cfg Config
	log *slog.Logger
	eio *engineio.Server

	mu          sync.RWMutex // guards nsps and middlewares
	nsps        map[string]*Namespace
	middlewares []Middleware
	adapter     atomic.Pointer[Adapter]
}

// Use adds a middleware that runs for connection attempts to every namespace, before
// the namespace's own (Namespace.Use). Authentication is the usual one.
func (s *Server) Use(m Middleware) {
	s.mu.Lock()
	s.middlewares = append(s.middlewares, m)
	s.mu.Unlock()
}

// New returns a Server with the main namespace "/" created.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Engine.Logger == nil {
		cfg.Engine.Logger = cfg.Logger
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.ConnectTimeout < 0 {
		return nil, fmt.Errorf("socketio: ConnectTimeout must be positive, got %v", cfg.ConnectTimeout)
	}
	if cfg.MaxAttachments <= 0 {
		cfg.MaxAttachments = DefaultMaxAttachments
	}
	s := &Server{cfg: cfg, log: cfg.Logger, nsps: make(map[string]*Namespace)}
	eio, err := engineio.New(cfg.Engine, engineHandler{s})
	if err != nil {
		return nil, err
	}
	s.eio = eio
	s.Of("/")
	return s, nil
}

// Of returns the namespace with the given name, creating it on first use. A name
// without a leading slash gets one.
func (s *Server) Of(name string) *Namespace {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	s.mu.RLock()
	n := s.nsps[name]
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n = s.nsps[name]; n == nil {
		n = newNamespace(s, name)
		s.nsps[name] = n
	}
	return n
}

// Namespace returns an existing namespace, or nil; unlike Of it never creates one.
func (s *Server) Namespace(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// Namespaces returns every namespace.
func (s *Server) Namespaces() []*Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		out = append(out, n)
	}
	return out
}

// Engine returns the Engine.IO server underneath.
func (s *Server) Engine() *engineio.Server { return s.eio }

// ServeHTTP serves the Engine.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.eio.ServeHTTP(w, r) }

// Shutdown closes every connection with "server shutting down" (clients reconnect
// elsewhere) and waits for them until ctx is done. See engineio.Server.Shutdown.
func (s *Server) Shutdown(ctx context.Context) error { return s.eio.Shutdown(ctx) }

// Close closes every connection at once.
func (s *Server) Close() error { return s.eio.Close() }

// engineHandler connects Engine.IO sessions to Socket.IO clients.
type engineHandler struct{ srv *Server }

func (h engineHandler) OnOpen(sess *engineio.Session) {
	c := &client{srv: h.srv, sess: sess}
	sess.SetValue(c)
	c.mu.Lock()
	c.timer = time.AfterFunc(h.srv.cfg.ConnectTimeout, c.onConnectTimeout)
	c.mu.Unlock()
}

func (h engineHandler) OnMessage(sess *engineio.Session, data []byte, binary bool) {
	sess.Value().(*client).onMessage(data, binary)
}

func (h engineHandler) OnClose(sess *engineio.Session, reason engineio.Reason) {
	sess.Value().(*client).onClose(reason.String())
}
