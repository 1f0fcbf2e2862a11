package engineio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/base64id"
	"github.com/heraldhq/herald/internal/wswrite"
	"github.com/lxzan/gws"
)

// Handler receives the events of every session. socketio.Server implements it; an
// application that wants raw Engine.IO messages (like Node's engine.io package)
// implements it directly.
//
// Calls for one session never overlap, and OnOpen happens before the others. Calls for
// different sessions run concurrently. A Handler must not block: OnMessage runs on the
// connection's read goroutine (or the polling POST), so a handler that waits for
// something the same client must send deadlocks that client.
type Handler interface {
	// OnOpen is called once for a new session, after its open packet is queued.
	OnOpen(s *Session)
	// OnMessage is called for each message. data is only valid during the call.
	OnMessage(s *Session, data []byte, binary bool)
	// OnClose is called once when the session ends, whatever the reason.
	OnClose(s *Session, reason Reason)
}

// Server is an Engine.IO v4 server: it serves the handshake, the long-polling and
// WebSocket transports and the upgrade between them. Mount it on the Engine.IO path
// (e.g. "/socket.io/"); it answers every request it is given. All methods are safe for
// concurrent use.
type Server struct {
	cfg      Config
	handler  Handler
	log      *slog.Logger
	upgrader *gws.Upgrader
	sessions sessionTable
	closing  atomic.Bool
	// gate orders a request's admission (enter) before Shutdown's decision to close:
	// a request that may start goroutines is counted in wg under gate's read lock,
	// and Shutdown sets closing under its write lock, so no Add can race the Wait.
	gate sync.RWMutex
	// wg counts the goroutines the server starts: WebSocket read loops, the write
	// pool's workers and per-session flushes. Shutdown waits for it.
	wg sync.WaitGroup
	// flush writes the WebSocket sessions' backlogs (Config.WriteWorkers).
	flush *wswrite.Pool
	// batches pools the write scratch space of per-session flush goroutines.
	batches sync.Pool
	// epoll reads the WebSockets when Config.EpollReads is set (Linux); nil otherwise.
	epoll *poller
	// heartbeats times every session's pings and pong timeouts.
	heartbeats *wheel

	pingFrame, noopFrame, closeFrame, pongProbeFrame *Frame
	openUpgrades                                     string // the "upgrades" JSON for polling sessions
}

// New returns a Server that reports sessions to h.
func New(cfg Config, h Handler) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:            cfg,
		handler:        h,
		log:            cfg.Logger,
		pingFrame:      NewFrame([]byte{byte(PacketPing)}),
		noopFrame:      NewFrame([]byte{byte(PacketNoop)}),
		closeFrame:     NewFrame([]byte{byte(PacketClose)}),
		pongProbeFrame: NewFrame([]byte("3probe")),
		openUpgrades:   "[]",
	}
	if cfg.allows(TransportWebSocket) {
		s.openUpgrades = `["websocket"]`
	}
	s.sessions.init()
	s.heartbeats = newWheel(min(cfg.PingInterval, cfg.PingTimeout), max(cfg.PingInterval, cfg.PingTimeout), &s.wg,
		(*Session).onTimer)
	s.flush = wswrite.NewPool(wswrite.Options{Workers: cfg.WriteWorkers, Delay: cfg.WriteDelay, Adaptive: cfg.AdaptiveWriteDelay,
		OnSwitch: wswrite.LogSwitches(s.log, "engineio: write pool", cfg.WriteDelay)}, &s.wg)
	s.batches.New = func() any { return new(wswrite.Batch) }
	if cfg.EpollReads && epollSupported {
		s.epoll = newPoller(s)
	}
	s.upgrader = gws.NewUpgrader(&wsHandler{srv: s}, &gws.ServerOption{
		ReadBufferSize:     cfg.ReadBufferSize,
		ReadMaxPayloadSize: cfg.MaxPayload,
		CheckUtf8Enabled:   true,
		NewSession:         func() gws.SessionStorage { return new(connSlot) },
		Recovery:           s.recoverPanic,
		Logger:             gwsLogger{s.log},
	})
	return s, nil
}

// Config returns the server's effective configuration, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Count returns the number of open sessions.
func (s *Server) Count() int { return s.sessions.count() }

// Session returns the open session with the given id, or nil.
func (s *Server) Session(id string) *Session { return s.sessions.get(id) }

// engine.io's error codes (engine.io lib/server.ts Server.errors).
const (
	errTransportUnknown = iota
	errUnknownSID
	errBadHandshakeMethod
	errBadRequest
	errForbidden
	errUnsupportedProtocol
)

var errMessages = [...]string{
	"Transport unknown", "Session ID unknown", "Bad handshake method", "Bad request",
	"Forbidden", "Unsupported protocol version",
}

// abort answers a request with engine.io's JSON error body.
func (s *Server) abort(w http.ResponseWriter, code int) {
	status, body := errAnswer(code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// errAnswer returns the HTTP status and JSON body engine.io answers an error code with.
func errAnswer(code int) (status int, body string) {
	status = http.StatusBadRequest
	if code == errForbidden {
		status = http.StatusForbidden
	}
	return status, `{"code":` + strconv.Itoa(code) + `,"message":"` + errMessages[code] + `"}`
}

// ServeHTTP serves one Engine.IO request: a handshake, a poll, a POST or a WebSocket.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	transport := q.Get("transport")
	isWS := transport == TransportWebSocket && isUpgrade(r)
	if transport == TransportPolling {
		if s.cors(w, r) && r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if !s.cfg.allows(transport) {
		s.abort(w, errTransportUnknown)
		return
	}
	if sid := q.Get("sid"); sid != "" {
		sess := s.sessions.get(sid)
		if sess == nil {
			s.abort(w, errUnknownSID)
			return
		}
		if isWS {
			if !s.enter() {
				http.Error(w, "server shutting down", http.StatusServiceUnavailable)
				return
			}
			defer s.wg.Done()
			s.serveUpgrade(w, r, sess)
			return
		}
		if transport != TransportPolling || !sess.isPolling() {
			s.abort(w, errBadRequest) // engine.io TRANSPORT_MISMATCH
			return
		}
		switch r.Method {
		case http.MethodGet:
			sess.serveGet(w, r)
		case http.MethodPost:
			sess.servePost(w, r)
		default:
			s.abort(w, errBadRequest)
		}
		return
	}
	if r.Method != http.MethodGet {
		s.abort(w, errBadHandshakeMethod)
		return
	}
	if transport == TransportWebSocket && !isWS {
		s.abort(w, errBadRequest)
		return
	}
	if q.Get("EIO") != "4" {
		s.abort(w, errUnsupportedProtocol)
		return
	}
	if s.cfg.AllowRequest != nil {
		if err := s.cfg.AllowRequest(r); err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "engineio: handshake refused",
				slog.String("remote", r.RemoteAddr), slog.String("err", err.Error()))
			s.abort(w, errForbidden)
			return
		}
	}
	if !s.enter() {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()
	if isWS {
		s.handshakeWebSocket(w, r)
		return
	}
	s.handshakePolling(w, r)
}

// enter counts a request that may open a session or start goroutines in wg, unless
// Shutdown has begun. The caller calls wg.Done when the request is served; a session
// it opened meanwhile is closed by afterOpen if Shutdown began in between.
func (s *Server) enter() bool {
	s.gate.RLock()
	defer s.gate.RUnlock()
	if s.closing.Load() {
		return false
	}
	s.wg.Add(1)
	return true
}

// afterOpen drops a session opened while Shutdown was listing the sessions to close
// (at once, without a goodbye: Shutdown's grace period would not know to cut it).
func (s *Server) afterOpen(sess *Session) {
	if s.closing.Load() {
		sess.cut()
	}
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// cors sets the CORS headers of a polling response when the request's origin is
// allowed, and reports whether it did.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(s.cfg.AllowedOrigins) == 0 {
		return false
	}
	if !slices.Contains(s.cfg.AllowedOrigins, "*") && !slices.Contains(s.cfg.AllowedOrigins, origin) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET,POST")
		if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
			h.Set("Access-Control-Allow-Headers", rh)
		}
	}
	return true
}

// newSession builds and registers a session; the caller queues the open packet.
func (s *Server) newSession(r *http.Request, kind transportKind, ws wsConn) *Session {
	return s.newSessionID(base64id.New(), r, kind, ws)
}

// newSessionID is newSession with the id chosen by the caller.
func (s *Server) newSessionID(id string, r *http.Request, kind transportKind, ws wsConn) *Session {
	sess := &Session{
		id:   id,
		srv:  s,
		hs:   NewHandshake(r),
		kind: kind,
		ws:   ws,
		raw:  rawConn(ws),
	}
	s.sessions.add(sess)
	return sess
}

// openFrame builds the open packet (engine.io socket.ts onOpen).
func (s *Server) openFrame(sid string, upgrades string) *Frame {
	b := BeginFrame(128)
	b = append(b, `0{"sid":"`...)
	b = append(b, sid...)
	b = append(b, `","upgrades":`...)
	b = append(b, upgrades...)
	b = append(b, `,"pingInterval":`...)
	b = strconv.AppendInt(b, s.cfg.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, s.cfg.PingTimeout.Milliseconds(), 10)
	b = append(b, `,"maxPayload":`...)
	b = strconv.AppendInt(b, int64(s.cfg.MaxPayload), 10)
	b = append(b, '}')
	return FinishFrame(b, false)
}

func (s *Server) handshakePolling(w http.ResponseWriter, r *http.Request) {
	sess := s.newSession(r, kindPolling, nil)
	sess.Send(s.openFrame(sess.id, s.openUpgrades))
	s.handler.OnOpen(sess)
	sess.startHeartbeat()
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "engineio: session open",
		slog.String("sid", sess.id), slog.String("transport", TransportPolling))
	s.afterOpen(sess)
	sess.serveGet(w, r)
}

func (s *Server) handshakeWebSocket(w http.ResponseWriter, r *http.Request) {
	if s.epoll != nil && r.TLS == nil { // a TLS connection has no descriptor to poll
		s.handshakeEpoll(w, r)
		return
	}
	conn, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "engineio: websocket upgrade failed",
			slog.String("remote", r.RemoteAddr), slog.String("err", err.Error()))
		return
	}
	s.openWebSocket(conn, r)
}

// ServeConn serves a WebSocket-only session on a connection accepted outside net/http
// (a custom listener, or an in-process benchmark): r is the upgrade request already
// read from it (a GET with transport=websocket and no sid), with any bytes read past
// it in br (nil for none). It runs the checks ServeHTTP runs for such a handshake
// (AllowRequest included) and answers a refusal as ServeHTTP would, then answers the
// upgrade, and returns once the session is being read. nc is closed on any error.
func (s *Server) ServeConn(nc net.Conn, br *bufio.Reader, r *http.Request) error {
	q := r.URL.Query()
	if r.Method != http.MethodGet || q.Get("transport") != TransportWebSocket || q.Get("sid") != "" || !isUpgrade(r) {
		_ = nc.Close()
		return errors.New("engineio: ServeConn needs a websocket handshake request without sid")
	}
	if !s.cfg.allows(TransportWebSocket) {
		return s.refuseConn(nc, errTransportUnknown)
	}
	if q.Get("EIO") != "4" {
		return s.refuseConn(nc, errUnsupportedProtocol)
	}
	if s.cfg.AllowRequest != nil {
		if err := s.cfg.AllowRequest(r); err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "engineio: handshake refused",
				slog.String("remote", r.RemoteAddr), slog.String("err", err.Error()))
			return s.refuseConn(nc, errForbidden)
		}
	}
	if !s.enter() {
		_ = nc.Close()
		return ErrServerClosed
	}
	defer s.wg.Done()
	buffered := br != nil && br.Buffered() > 0
	if s.epoll != nil && !buffered && wswrite.RawConn(nc) != nil {
		accept, ok := wsAccept(r)
		if !ok {
			writeRaw(nc, s.cfg.WriteTimeout, http.StatusBadRequest, "text/plain; charset=utf-8", "bad WebSocket handshake\n")
			return errors.New("engineio: bad WebSocket handshake")
		}
		sid := base64id.New()
		conn := s.answerUpgrade(nc, accept, s.openFrame(sid, "[]"))
		if conn == nil {
			return errors.New("engineio: the upgrade answer could not be written")
		}
		s.openEpoll(conn, sid, r)
		return nil
	}
	if br == nil {
		br = bufio.NewReader(nc)
	}
	conn, err := s.upgrader.UpgradeFromConn(nc, br, r)
	if err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "engineio: websocket upgrade failed",
			slog.String("remote", r.RemoteAddr), slog.String("err", err.Error()))
		_ = nc.Close()
		return err
	}
	s.openWebSocket(conn, r)
	return nil
}

// refuseConn answers a handshake read outside net/http with engine.io's error code
// and closes nc; it returns the refusal as an error.
func (s *Server) refuseConn(nc net.Conn, code int) error {
	status, body := errAnswer(code)
	writeRaw(nc, s.cfg.WriteTimeout, status, "application/json", body)
	return fmt.Errorf("engineio: handshake refused: %s", errMessages[code])
}

// writeRaw writes a whole HTTP/1.1 response to nc, within timeout, and closes it.
func writeRaw(nc net.Conn, timeout time.Duration, status int, contentType, body string) {
	_ = nc.SetWriteDeadline(time.Now().Add(timeout))
	_, _ = io.WriteString(nc, "HTTP/1.1 "+strconv.Itoa(status)+" "+http.StatusText(status)+"\r\nContent-Type: "+contentType+
		"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\nConnection: close\r\n\r\n"+body)
	_ = nc.Close()
}

// openWebSocket starts a session on conn and gws's read loop for it.
func (s *Server) openWebSocket(conn *gws.Conn, r *http.Request) {
	sess := s.startWebSocket(conn, r, func(sess *Session) { conn.Session().(*connSlot).sess = sess })
	s.wg.Add(1) // the request's own count (enter) is still held: no race with Wait
	go func() {
		defer s.wg.Done()
		conn.ReadLoop()
	}()
	s.afterOpen(sess)
}

// startWebSocket creates the session of a WebSocket opened directly (not upgraded
// from polling), queues its open packet and tells the Handler; attach, when set,
// links the connection to the session before the handler sees it.
func (s *Server) startWebSocket(conn wsConn, r *http.Request, attach func(*Session)) *Session {
	sess := s.newSession(r, kindWebSocket, conn)
	if attach != nil {
		attach(sess)
	}
	sess.Send(s.openFrame(sess.id, "[]"))
	s.openedWebSocket(sess, r)
	return sess
}

// openedWebSocket tells the Handler of a new WebSocket session whose open packet is
// queued or written, and starts its heartbeat.
func (s *Server) openedWebSocket(sess *Session, r *http.Request) {
	s.handler.OnOpen(sess)
	sess.startHeartbeat()
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "engineio: session open",
		slog.String("sid", sess.id), slog.String("transport", TransportWebSocket))
}

// serveUpgrade accepts the WebSocket that upgrades a polling session
// (engine.io server.ts onWebSocket → socket.ts _maybeUpgrade).
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, sess *Session) {
	if !sess.beginUpgrade() {
		s.abort(w, errBadRequest) // already upgrading or upgraded
		return
	}
	if s.epoll != nil && r.TLS == nil {
		if s.serveUpgradeEpoll(w, r, sess) {
			return
		}
	}
	conn, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		sess.attachProbe(nil)
		return
	}
	s.probeWithGWS(conn, sess)
}

// probeWithGWS runs an upgrade's probe exchange on conn with gws's read loop.
func (s *Server) probeWithGWS(conn *gws.Conn, sess *Session) {
	if !sess.attachProbe(conn) {
		_ = conn.NetConn().Close()
		return
	}
	slot := conn.Session().(*connSlot)
	slot.sess, slot.probe = sess, true
	deadline := time.AfterFunc(s.cfg.UpgradeTimeout, func() {
		if sess.abortProbe(conn) {
			_ = conn.WriteClose(1000, nil)
		}
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		conn.ReadLoop()
		deadline.Stop()
	}()
}

// serveUpgradeEpoll is serveUpgrade for the epoll reader; false when the request is
// still to be served by gws (nothing was done to it).
func (s *Server) serveUpgradeEpoll(w http.ResponseWriter, r *http.Request, sess *Session) bool {
	conn, fallback := s.upgradeEpoll(w, r, nil)
	switch {
	case fallback != nil:
		s.probeWithGWS(fallback, sess)
		return true
	case conn == nil:
		sess.attachProbe(nil)
		return true
	}
	if !sess.attachProbe(conn) {
		_ = conn.NetConn().Close()
		return true
	}
	timeout := func() {
		if sess.abortProbe(conn) {
			_ = conn.WriteClose(1000, nil) // the reader then finds the socket closed
		}
	}
	if !s.epoll.addProbe(sess, conn, timeout) { // Shutdown has begun
		sess.abortProbe(conn)
		_ = conn.NetConn().Close()
	}
	return true
}

// Shutdown closes every session with ReasonServerShutdown (clients reconnect to
// another node), refuses new handshakes, and waits until the server's goroutines have
// exited or ctx is done, in which case it cuts the remaining connections and returns
// ctx's error. It does not close the listener: stop the http.Server after it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.gate.Lock()
	s.closing.Store(true)
	s.gate.Unlock()
	all := s.sessions.all()
	for _, sess := range all {
		sess.close(ReasonServerShutdown, true)
	}
	// Nothing is left to time: sessions closed above have no heartbeat, and a polling
	// session waiting for its last GET needs no removal from a server shut down.
	s.heartbeats.stop()
	if s.epoll != nil {
		s.epoll.stop() // the epoll loop ends once its last connection is gone
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, sess := range all {
			sess.cut()
		}
		<-done
		return ctx.Err()
	}
}

// Close is Shutdown without the wait for clients: it cuts every connection at once and
// returns when the server's goroutines have exited.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.Shutdown(ctx)
	return nil
}

func (s *Server) recoverPanic(_ gws.Logger) {
	if e := recover(); e != nil {
		s.log.Error("engineio: panic in handler", slog.Any("panic", e))
	}
}

// gwsLogger routes gws's own log lines to slog.
type gwsLogger struct{ log *slog.Logger }

func (l gwsLogger) Error(v ...any) { l.log.Error("gws", slog.Any("msg", v)) }

// Handshake is what the client's first request carried, kept for the session's life
// (socket.io's socket.handshake). It is kept small: an idle connection holds one.
type Handshake struct {
	RemoteAddr string
	Time       time.Time
	// URL is the request URI, path and query (e.g. "/socket.io/?EIO=4&...").
	URL    string
	Secure bool

	// header holds the kept request headers as "Name: value\n" lines, names
	// canonical and sorted, a name's values in request order: one string instead
	// of a map, which cost an idle session ~0.4 KB even for a single header.
	header string
}

// NewHandshake captures what a session keeps of its first request: the headers
// except those that only served the HTTP exchange or the WebSocket upgrade
// (Connection, Upgrade, Sec-WebSocket-*, Content-*, …), so a bare WebSocket
// client's session keeps almost none.
func NewHandshake(r *http.Request) *Handshake {
	return &Handshake{
		RemoteAddr: r.RemoteAddr,
		Time:       time.Now(),
		URL:        r.URL.RequestURI(),
		Secure:     r.TLS != nil,
		header:     keptHeaders(r.Header),
	}
}

// Header returns the kept request headers (socket.handshake.headers). It builds a
// new map on every call; HeaderValue reads one header without building anything.
func (h *Handshake) Header() http.Header {
	if h.header == "" {
		return nil
	}
	out := make(http.Header, strings.Count(h.header, "\n"))
	for line := range strings.Lines(h.header) {
		k, v := splitHeaderLine(line)
		out[k] = append(out[k], v)
	}
	return out
}

// HeaderValue returns the first value of the named request header, matched
// without regard to case, or "" when the session did not keep it.
func (h *Handshake) HeaderValue(name string) string {
	for line := range strings.Lines(h.header) {
		if k, v := splitHeaderLine(line); strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// HeaderValues returns every value of the named request header (matched without
// regard to case), in request order; nil when the session did not keep it.
func (h *Handshake) HeaderValues(name string) []string {
	var out []string
	for line := range strings.Lines(h.header) {
		if k, v := splitHeaderLine(line); strings.EqualFold(k, name) {
			out = append(out, v)
		}
	}
	return out
}

// splitHeaderLine splits one "Name: value\n" line of Handshake.header.
func splitHeaderLine(line string) (name, value string) {
	name, value, _ = strings.Cut(strings.TrimSuffix(line, "\n"), ": ")
	return name, value
}

// Query parses the query parameters of URL (on each call; keeping the parsed map
// would cost every idle session a few hundred bytes).
func (h *Handshake) Query() url.Values {
	_, q, _ := strings.Cut(h.URL, "?")
	v, _ := url.ParseQuery(q)
	return v
}

// handshakeOnly reports headers that mean nothing once the connection is established.
func handshakeOnly(key string) bool {
	switch key {
	case "Connection", "Upgrade", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions",
		"Sec-Websocket-Protocol", "Content-Length", "Content-Type", "Cache-Control", "Pragma":
		return true
	}
	return false
}

// keptHeaders encodes the headers a Handshake keeps. Names are canonicalised (a
// server's request has them so already); a name or value that could forge a line
// (a line break, or a colon in a name), which net/http never lets through, is
// dropped.
func keptHeaders(h http.Header) string {
	type field struct{ name, key string } // canonical name, key in h
	fields := make([]field, 0, len(h))
	n := 0
	for k, vs := range h {
		name := textproto.CanonicalMIMEHeaderKey(k)
		if handshakeOnly(name) || name == "" || strings.ContainsAny(name, ":\r\n") {
			continue
		}
		fields = append(fields, field{name, k})
		for _, v := range vs {
			n += len(name) + 2 + len(v) + 1
		}
	}
	if n == 0 {
		return ""
	}
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.name, b.name) })
	var b strings.Builder
	b.Grow(n)
	for _, f := range fields {
		for _, v := range h[f.key] {
			if strings.ContainsAny(v, "\r\n") {
				continue
			}
			b.WriteString(f.name)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// sessionTable is the sid → Session index, sharded so handshakes and polls on many
// cores do not contend on one lock.
type sessionTable struct {
	shards [32]struct {
		mu sync.RWMutex
		m  map[string]*Session
	}
	n atomic.Int64
}

func (t *sessionTable) init() {
	for i := range t.shards {
		t.shards[i].m = make(map[string]*Session)
	}
}

// shard picks by the id's last character, which is random.
func (t *sessionTable) shard(id string) int {
	if id == "" {
		return 0
	}
	return int(id[len(id)-1]) % len(t.shards)
}

func (t *sessionTable) add(s *Session) {
	sh := &t.shards[t.shard(s.id)]
	sh.mu.Lock()
	sh.m[s.id] = s
	sh.mu.Unlock()
	t.n.Add(1)
}

func (t *sessionTable) remove(s *Session) {
	sh := &t.shards[t.shard(s.id)]
	sh.mu.Lock()
	if sh.m[s.id] == s {
		delete(sh.m, s.id)
		t.n.Add(-1)
	}
	sh.mu.Unlock()
}

func (t *sessionTable) get(id string) *Session {
	sh := &t.shards[t.shard(id)]
	sh.mu.RLock()
	s := sh.m[id]
	sh.mu.RUnlock()
	return s
}

func (t *sessionTable) count() int { return int(t.n.Load()) }

func (t *sessionTable) all() []*Session {
	var out []*Session
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			out = append(out, s)
		}
		sh.mu.RUnlock()
	}
	return out
}
