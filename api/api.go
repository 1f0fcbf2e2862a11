// Package api is Herald's HTTP API for backends: services written in any language emit
// events to any audience (everyone, the authenticated, users, rooms, sockets), look up
// presence and disconnect sockets, with one HTTP call to any node. docs/API.md
// describes the endpoints.
//
// An emit goes through the same path as a Go handler's broadcast
// (Namespace.To(...).Except(...).Emit), so it reaches every node through the cluster bus.
//
// A Server is an http.Handler, safe for concurrent use; it starts no goroutine.
package api

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/cluster"
	"github.com/heraldhq/herald/socketio"
)

// Defaults for Config.
const (
	// Prefix is the path every route lives under.
	Prefix = "/api/v1/"
	// DefaultBodyLimit is the largest request body: 1 MB, as Engine.IO's
	// maxHttpBufferSize.
	DefaultBodyLimit = 1_000_000
	// DefaultTimeout bounds a request's cluster operations.
	DefaultTimeout = 5 * time.Second
	// DefaultWaitTimeout bounds an emit's wait for delivery counts.
	DefaultWaitTimeout = 2 * time.Second
	// busCheckTTL is how long a successful bus probe is trusted: an emit pays one bus
	// round trip at most this often.
	busCheckTTL = time.Second
)

// Errors of New.
var (
	ErrNoKeys   = errors.New("api: no API key configured")
	ErrEmptyKey = errors.New("api: an API key is empty")
	ErrNoServer = errors.New("api: Config.IO is nil")
)

// Config configures a Server.
type Config struct {
	// Keys are the accepted bearer keys; several, so keys can rotate. At least one.
	Keys []string
	// IO is the Socket.IO server the API emits through. Required.
	IO *socketio.Server
	// Cluster is the node's cluster adapter; nil for a single node.
	Cluster *cluster.Adapter
	// Auth names the audience rooms; nil means auth's defaults ("user:<id>",
	// "authenticated").
	Auth *auth.Authenticator
	// BodyLimit is the largest request body, bytes. Zero means 1 MB.
	BodyLimit int64
	// Timeout bounds a request's cluster operations (presence, nodes). Zero means 5s.
	Timeout time.Duration
	// WaitTimeout is how long an emit with "wait" waits for the nodes' counts when the
	// request gives no "timeout". Zero means 2s.
	WaitTimeout time.Duration
	// BusCheck reports whether the cluster bus is up; an emit or disconnect answers
	// 503 while it fails. Nil means a bus round trip (cached for 1s) when Cluster is
	// set, and no check otherwise.
	BusCheck func(context.Context) error
	// Logger; nil discards.
	Logger *slog.Logger
}

// Server serves the API.
type Server struct {
	cfg  Config
	keys [][]byte
	log  *slog.Logger
	mux  *http.ServeMux

	busMu       sync.Mutex // guards busOK and busFailures
	busOK       time.Time  // last successful bus probe
	busFailures int64      // the adapter's publish errors + drops at that probe
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if len(cfg.Keys) == 0 {
		return nil, ErrNoKeys
	}
	if cfg.IO == nil {
		return nil, ErrNoServer
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	for _, k := range cfg.Keys {
		if k == "" {
			return nil, ErrEmptyKey
		}
		s.keys = append(s.keys, []byte(k))
	}
	if s.cfg.BodyLimit <= 0 {
		s.cfg.BodyLimit = DefaultBodyLimit
	}
	if s.cfg.Timeout <= 0 {
		s.cfg.Timeout = DefaultTimeout
	}
	if s.cfg.WaitTimeout <= 0 {
		s.cfg.WaitTimeout = DefaultWaitTimeout
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.BusCheck == nil && cfg.Cluster != nil {
		s.cfg.BusCheck = s.probeBus
	}
	s.route("POST", "emit", s.emit)
	s.route("POST", "disconnect", s.disconnect)
	s.route("GET", "users/{id}", s.user)
	s.route("GET", "rooms/{room}/count", s.roomCount)
	s.route("GET", "nodes", s.nodes)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	return s, nil
}

// handlerFunc is a route's handler; rid is the request id.
type handlerFunc func(w http.ResponseWriter, r *http.Request, log *slog.Logger)

// route registers path for one method; other methods get a JSON 405.
func (s *Server) route(method, path string, h handlerFunc) {
	s.mux.HandleFunc(Prefix+path, func(w http.ResponseWriter, r *http.Request) {
		log := s.log.With("req", w.Header().Get("X-Request-Id"))
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+method)
			return
		}
		h(w, r, log)
	})
}

// ServeHTTP gives the request an id, checks its key and routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := r.Header.Get("X-Request-Id")
	if !validRequestID(rid) {
		rid = newID()
	}
	w.Header().Set("X-Request-Id", rid)
	if !s.authorized(r.Header.Get("Authorization")) {
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "api: unauthorized", slog.String("req", rid),
			slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr))
		w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong API key (Authorization: Bearer <key>)")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// authorized compares the bearer key with every configured key in constant time (it
// does not stop at the first match, so timing does not tell which key matched).
func (s *Server) authorized(header string) bool {
	scheme, key, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	key = strings.TrimSpace(key)
	match := 0
	for _, k := range s.keys {
		match |= subtle.ConstantTimeCompare([]byte(key), k)
	}
	return match == 1 && key != ""
}

// validRequestID accepts a caller's id of 1-128 printable ASCII characters.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// newID returns 16 random bytes in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// readBody reads the body up to BodyLimit; over it, it answers 400 (the issue asks
// for 400 rather than 413, so every refusal of a body is one status) and returns false.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.BodyLimit))
	if err != nil {
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			writeError(w, http.StatusBadRequest, "body: over the limit of "+strconv.FormatInt(s.cfg.BodyLimit, 10)+" bytes")
		} else {
			writeError(w, http.StatusBadRequest, "body: "+err.Error())
		}
		return nil, false
	}
	return b, true
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers status with {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// checkBus returns the BusCheck's error, nil without one.
func (s *Server) checkBus(ctx context.Context) error {
	if s.cfg.BusCheck == nil {
		return nil
	}
	return s.cfg.BusCheck(ctx)
}

// probeBus asks the bus for the membership list (a round trip), at most once per
// busCheckTTL while it succeeds and the adapter counts no new publish error or
// dropped broadcast; a failing bus is probed again on every call, so recovery is seen
// at once. Between probes an emit is not checked: within busCheckTTL of the bus going
// down, an emit can be accepted and then fail to publish (counted in
// cluster.Stats.PublishErrors). The cost of closing that window is one round trip per
// emit.
func (s *Server) probeBus(ctx context.Context) error {
	st := s.cfg.Cluster.Stats()
	failures := st.PublishErrors + st.DroppedOut
	s.busMu.Lock()
	fresh := time.Since(s.busOK) < busCheckTTL && failures == s.busFailures
	s.busMu.Unlock()
	if fresh {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := s.cfg.Cluster.Nodes(ctx); err != nil {
		return err
	}
	s.busMu.Lock()
	s.busOK, s.busFailures = time.Now(), failures
	s.busMu.Unlock()
	return nil
}

// userRoom and authenticatedRoom name the audience rooms.
func (s *Server) userRoom(user string) string {
	if s.cfg.Auth != nil {
		return s.cfg.Auth.UserRoom(user)
	}
	return auth.DefaultUserRoomPrefix + user
}

func (s *Server) authenticatedRoom() string {
	if s.cfg.Auth != nil {
		return s.cfg.Auth.AuthenticatedRoom()
	}
	return auth.DefaultAuthenticatedRoom
}

// rooms turns the selectors into the rooms and except rooms of a broadcast; no rooms
// means the whole namespace.
func (s *Server) rooms(to Target, except Exclusion) (rooms, excl []string) {
	switch to.Kind {
	case "authenticated":
		rooms = []string{s.authenticatedRoom()}
	case "users":
		for _, u := range to.IDs {
			rooms = append(rooms, s.userRoom(u))
		}
	case "rooms", "sockets": // a socket id is a room holding that socket
		rooms = to.IDs
	}
	excl = append(excl, except.Rooms...)
	excl = append(excl, except.Sockets...)
	for _, u := range except.Users {
		excl = append(excl, s.userRoom(u))
	}
	return rooms, excl
}
