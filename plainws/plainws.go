// Package plainws serves the plain WebSocket endpoint: JSON text frames
// {"event": "...", "data": ...} both ways, the shape of a NestJS WsAdapter gateway, so
// clients written for one connect unchanged.
//
// Each connection becomes a socketio.Socket of one namespace (default "/"): it shares
// that namespace's rooms, middlewares and event handlers with Socket.IO clients, so one
// broadcast reaches both kinds. An event handler's Ack is sent back as
// {"event": <same event>, "data": ...}, like a NestJS handler's return value.
//
// Concurrency: each connection has one read goroutine; writes are queued and written
// by a write pool shared by the connections, one non-blocking writev per backlog, as
// in package engineio (internal/wswrite).
package plainws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldhq/herald/engineio"
	"github.com/heraldhq/herald/internal/wswrite"
	"github.com/heraldhq/herald/socketio"
	"github.com/lxzan/gws"
)

// Defaults.
const (
	DefaultPingInterval = 25 * time.Second
	DefaultPingTimeout  = 20 * time.Second
)

// WebSocket close codes sent by the endpoint.
const (
	CloseUnsupportedData = 1003 // a binary frame
	CloseInvalidPayload  = 1007 // text that is not JSON
	ClosePolicyViolation = 1008 // JSON without a string "event"
	CloseRefused         = 4403 // a namespace middleware refused the connection
	CloseSlowConsumer    = 4008 // the write queue overflowed
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// Namespace is the Socket.IO namespace the connections join. Empty means "/".
	Namespace string
	// MaxPayload is the largest frame accepted, in bytes. Zero means 1 MB.
	MaxPayload int
	// ReadBufferSize per connection, in bytes. Zero means 512.
	ReadBufferSize int
	// WriteQueueBytes bounds each connection's unsent bytes; overflow closes it with
	// code 4008. Zero means 1 MiB.
	WriteQueueBytes int
	// WriteTimeout bounds one write. Zero means 10s.
	WriteTimeout time.Duration
	// WriteWorkers, WriteDelay and AdaptiveWriteDelay configure the write pool as in
	// engineio.Config.
	WriteWorkers       int
	WriteDelay         time.Duration
	AdaptiveWriteDelay bool
	// PingInterval is how often a WebSocket ping is sent; a connection that sends
	// nothing (not even a pong) for PingInterval+PingTimeout is closed. Zero means 25s
	// and 20s.
	PingInterval, PingTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Server is the plain WebSocket endpoint. It is an http.Handler.
type Server struct {
	cfg      Config
	nsp      *socketio.Namespace
	log      *slog.Logger
	upgrader *gws.Upgrader
	closing  atomic.Bool
	wg       sync.WaitGroup // read loops, writers and the write pool's workers
	flush    *wswrite.Pool  // writes the connections' backlogs

	mu    sync.Mutex // guards conns
	conns map[*conn]struct{}

	pingFrame *engineio.Frame
}

// New returns a Server whose connections join cfg.Namespace of srv.
func New(srv *socketio.Server, cfg Config) (*Server, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "/"
	}
	if cfg.MaxPayload == 0 {
		cfg.MaxPayload = engineio.DefaultMaxPayload
	}
	if cfg.ReadBufferSize == 0 {
		cfg.ReadBufferSize = engineio.DefaultReadBufferSize
	}
	if cfg.WriteQueueBytes == 0 {
		cfg.WriteQueueBytes = engineio.DefaultWriteQueueBytes
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = engineio.DefaultWriteTimeout
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.MaxPayload < 0 || cfg.ReadBufferSize < 0 || cfg.WriteQueueBytes < 0 || cfg.WriteTimeout < 0 || cfg.PingInterval < 0 || cfg.PingTimeout < 0 ||
		cfg.WriteWorkers < 0 || cfg.WriteDelay < 0 {
		return nil, errors.New("plainws: sizes and durations must not be negative")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:   cfg,
		nsp:   srv.Of(cfg.Namespace),
		log:   cfg.Logger,
		conns: make(map[*conn]struct{}),
		// A ping control frame with no payload (RFC 6455 §5.5.2).
		pingFrame: pingFrame(),
	}
	s.flush = wswrite.NewPool(wswrite.Options{Workers: cfg.WriteWorkers, Delay: cfg.WriteDelay, Adaptive: cfg.AdaptiveWriteDelay,
		OnSwitch: wswrite.LogSwitches(s.log, "plainws: write pool", cfg.WriteDelay)}, &s.wg)
	s.upgrader = gws.NewUpgrader(&handler{srv: s}, &gws.ServerOption{
		ReadBufferSize:     cfg.ReadBufferSize,
		ReadMaxPayloadSize: cfg.MaxPayload,
		CheckUtf8Enabled:   true,
		NewSession:         func() gws.SessionStorage { return new(slot) },
		Recovery: func(gws.Logger) {
			if e := recover(); e != nil {
				s.log.Error("plainws: panic in handler", slog.Any("panic", e))
			}
		},
	})
	return s, nil
}

func pingFrame() *engineio.Frame {
	f := engineio.NewFrame(nil)
	return f.WithOpcode(0x9)
}

// ServeHTTP upgrades the request and serves the connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The request counts in wg from here until its read loop takes over, and the Add
	// happens under mu with closing checked, so it never races Shutdown's Wait.
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	reading := false
	defer func() {
		if !reading {
			s.wg.Done()
		}
	}()
	wc, err := s.upgrader.Upgrade(w, r)
	if err != nil {
		return
	}
	c := &conn{srv: s, ws: wc, raw: wswrite.RawConn(wc.NetConn())}
	wc.Session().(*slot).c = c
	hs := &socketio.Handshake{Handshake: engineio.NewHandshake(r)}
	sock, err := s.nsp.Accept(c, hs)
	if err != nil {
		msg := err.Error()
		var ce *socketio.ConnectError
		if errors.As(err, &ce) {
			msg = ce.Message
		}
		s.log.Info("plainws: connection refused", "remote", r.RemoteAddr, "err", err.Error())
		_ = wc.WriteClose(CloseRefused, []byte(truncate(msg)))
		return
	}
	c.sock = sock
	s.mu.Lock()
	s.conns[c] = struct{}{}
	closing := s.closing.Load() // Shutdown began after this request started: close it too
	s.mu.Unlock()
	c.refreshDeadline()
	c.mu.Lock()
	c.timer = time.AfterFunc(s.cfg.PingInterval, c.ping)
	c.mu.Unlock()
	reading = true // the read loop owns the request's count in wg now
	go func() {
		defer s.wg.Done()
		wc.ReadLoop()
	}()
	if closing {
		// Not in Shutdown's list: cut it at once, so its read loop ends and Shutdown's
		// wait does not outlast its deadline on it.
		c.closeWith(1001, "server shutting down")
		_ = wc.NetConn().Close()
	}
}

// Shutdown closes every connection with code 1001 (going away) and waits for them
// until ctx is done, then cuts what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true) // under mu: ServeHTTP checks it there before counting in wg
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(1001, "server shutting down")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			_ = c.ws.NetConn().Close()
		}
		<-done
		return ctx.Err()
	}
}

// Count returns the number of open connections.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// truncate keeps a close reason within the 123 bytes a close frame allows.
func truncate(s string) string {
	if len(s) > 123 {
		return s[:123]
	}
	return s
}

// conn is one plain WebSocket connection; it implements socketio.Conn.
type conn struct {
	srv  *Server
	ws   *gws.Conn
	raw  syscall.RawConn // ws's socket for the write pool; nil: a goroutine per flush
	sock *socketio.Socket

	mu         sync.Mutex // guards the fields below
	queue      []*engineio.Frame
	spare      []*engineio.Frame // the last written batch's array, the next queue
	queued     int
	flushing   bool   // in the write pool's line, or a goroutine owns the writes
	flushRound uint64 // the pool's round that last wrote the connection
	closed     bool
	closeCode  uint16 // non-zero: the close frame to send once the queue is drained
	closeText  string
	timer      *time.Timer
}

var _ socketio.Conn = (*conn)(nil)

func (c *conn) Transport() string { return engineio.TransportWebSocket }

func (c *conn) Send(f *engineio.Frame) error {
	return c.SendBatch([]*engineio.Frame{f})
}

func (c *conn) SendBatch(fs []*engineio.Frame) error {
	n := 0
	for _, f := range fs {
		n += f.Len()
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return engineio.ErrSessionClosed
	}
	if len(c.queue) > 0 && c.queued+n > c.srv.cfg.WriteQueueBytes {
		c.mu.Unlock()
		c.srv.log.Info("plainws: write queue overflow, closing", "remote", c.ws.RemoteAddr().String())
		_ = c.ws.NetConn().Close() // the peer is not reading: no close frame can get through
		return engineio.ReasonSlowConsumer
	}
	c.queue = append(c.queue, fs...)
	c.queued += n
	c.kickLocked()
	c.mu.Unlock()
	return nil
}

// kickLocked gets the queue written: the connection joins the write pool's line, or
// gets a goroutine when it has no file descriptor. c.mu must be held.
func (c *conn) kickLocked() {
	if c.flushing {
		return
	}
	c.flushing = true
	if c.raw != nil {
		c.srv.flush.Add((*flusher)(c), c.flushRound)
		return
	}
	c.srv.wg.Add(1)
	go c.flushBlocking(new(wswrite.Batch))
}

// takeLocked takes the queue for writing into b. c.mu must be held.
func (c *conn) takeLocked(b *wswrite.Batch) {
	for _, f := range c.queue {
		b.Add(f.Bytes())
	}
	clear(c.queue)
	c.queue, c.spare, c.queued = c.spare, c.queue[:0], 0
}

// idleLocked ends a flush with the queue empty; a pending close frame goes out now
// (on a goroutine of its own when the caller is a pool worker). It unlocks c.mu.
func (c *conn) idleLocked(inline bool) {
	c.flushing = false
	code, text := c.closeCode, c.closeText
	c.mu.Unlock()
	switch {
	case code == 0:
	case inline:
		c.writeClose(code, text)
	default:
		c.srv.wg.Add(1)
		go func() {
			defer c.srv.wg.Done()
			c.writeClose(code, text)
		}()
	}
}

func (c *conn) writeClose(code uint16, text string) {
	_ = c.ws.NetConn().SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	_ = c.ws.WriteClose(code, []byte(text))
}

// failed drops the connection after a write error.
func (c *conn) failed() {
	c.mu.Lock()
	c.flushing = false
	c.mu.Unlock()
	_ = c.ws.NetConn().Close()
}

// flusher is a conn as the write pool sees it.
type flusher conn

// Flush writes the backlog without blocking (wswrite.Flusher).
func (f *flusher) Flush(b *wswrite.Batch, round uint64) bool {
	c := (*conn)(f)
	c.mu.Lock()
	c.flushRound = round
	if len(c.queue) == 0 {
		c.idleLocked(false)
		return false
	}
	c.takeLocked(b)
	c.mu.Unlock()
	switch done, err := b.TryWrite(c.raw); {
	case err != nil:
		b.Reset()
		c.failed()
	case !done: // the socket is full: a goroutine finishes, blocking up to WriteTimeout
		rest := new(wswrite.Batch)
		b.MoveTo(rest)
		c.srv.wg.Add(1)
		go c.flushBlocking(rest)
	default:
		c.mu.Lock()
		if len(c.queue) > 0 {
			c.mu.Unlock()
			return true
		}
		c.idleLocked(false)
	}
	return false
}

// flushBlocking writes b, then whatever is queued, with blocking writes: for a
// connection without a file descriptor until the queue is empty; for one whose
// socket was full, until b is out, after which the pool takes over again.
func (c *conn) flushBlocking(b *wswrite.Batch) {
	defer c.srv.wg.Done()
	for {
		if err := b.Write(c.ws.NetConn(), c.srv.cfg.WriteTimeout); err != nil {
			c.failed()
			return
		}
		c.mu.Lock()
		switch {
		case len(c.queue) == 0:
			c.idleLocked(true)
			return
		case c.raw != nil:
			c.srv.flush.Add((*flusher)(c), c.flushRound) // still flushing: back in line
			c.mu.Unlock()
			return
		}
		c.takeLocked(b)
		c.mu.Unlock()
	}
}

// Close closes the connection normally (code 1000).
func (c *conn) Close() { c.closeWith(1000, "") }

// closeWith sends the close frame after what is already queued.
func (c *conn) closeWith(code uint16, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.closeCode, c.closeText = code, truncate(reason)
	c.kickLocked()
}

func (c *conn) ping() {
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.timer.Reset(c.srv.cfg.PingInterval)
	}
	c.mu.Unlock()
	if !closed {
		_ = c.Send(c.srv.pingFrame)
	}
}

// refreshDeadline gives the peer PingInterval+PingTimeout to send its next frame.
func (c *conn) refreshDeadline() {
	_ = c.ws.SetReadDeadline(time.Now().Add(c.srv.cfg.PingInterval + c.srv.cfg.PingTimeout))
}

// slot is the per-connection gws storage: just our conn.
type slot struct{ c *conn }

func (s *slot) Len() int                     { return 0 }
func (s *slot) Load(string) (any, bool)      { return nil, false }
func (s *slot) Delete(string)                {}
func (s *slot) Store(string, any)            {}
func (s *slot) Range(func(string, any) bool) {}

// handler receives gws events for every connection.
type handler struct{ srv *Server }

func (h *handler) OnOpen(*gws.Conn) {}

// OnPing answers through the queue: the write pool writes the socket directly, and
// a frame gws wrote itself could land in the middle of one of ours.
func (h *handler) OnPing(wc *gws.Conn, p []byte) {
	c := wc.Session().(*slot).c
	c.refreshDeadline()
	_ = c.Send(engineio.NewBinaryFrame(p).WithOpcode(0xA))
}

func (h *handler) OnPong(wc *gws.Conn, _ []byte) { wc.Session().(*slot).c.refreshDeadline() }

func (h *handler) OnClose(wc *gws.Conn, err error) {
	c := wc.Session().(*slot).c
	if c == nil || c.sock == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	h.srv.mu.Lock()
	delete(h.srv.conns, c)
	h.srv.mu.Unlock()
	reason := "transport close"
	var ce *gws.CloseError
	if err != nil && !errors.As(err, &ce) {
		reason = "transport error"
	}
	c.sock.HandleClose(reason)
}

func (h *handler) OnMessage(wc *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	c := wc.Session().(*slot).c
	c.refreshDeadline()
	if msg.Opcode != gws.OpcodeText {
		c.refuse(CloseUnsupportedData, "binary frames are not supported", nil)
		return
	}
	event, data, err := DecodeEnvelope(msg.Bytes())
	if err != nil {
		code := uint16(ClosePolicyViolation)
		if errors.Is(err, ErrInvalidJSON) {
			code = CloseInvalidPayload
		}
		c.refuse(code, err.Error(), msg.Bytes())
		return
	}
	var args socketio.Args
	if data != nil {
		// Handlers may keep arguments past this call; the frame buffer is reused.
		args.Raw = append(args.Raw, append([]byte(nil), data...))
	}
	c.sock.HandleEvent(event, args, true, 0)
}

// refuse closes the connection for a bad frame, logging it once.
func (c *conn) refuse(code uint16, reason string, frame []byte) {
	c.srv.log.LogAttrs(context.Background(), slog.LevelInfo, "plainws: bad frame, closing",
		slog.String("sid", c.sock.ID()), slog.Int("code", int(code)), slog.String("reason", reason),
		slog.String("frame", fmt.Sprintf("%.32q", frame)))
	c.closeWith(code, reason)
}
