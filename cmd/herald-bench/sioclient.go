package main

// A minimal Socket.IO v5 / Engine.IO v4 client over WebSocket only.
//
// It is built for holding many connections in one process, with no session map,
// and it has two read paths. With Dialer.Epoll (Linux), a few pollers read every
// connection from epoll (epoll_linux.go): no goroutine and no read buffer per
// connection, and little CPU per message beyond the read and the parse. Otherwise
// each connection is a gws.Conn with its own reader goroutine and a small read
// buffer. Both hand messages to the same handling (onText, onClose, …), which runs
// on the connection's reading goroutine: its poller, or its own.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// ---------------------------------------------------------------------------
// Targets (loopback only)

// Target is a validated, loopback-only Socket.IO endpoint.
type Target struct {
	Base  string // the URL as given on the command line
	WSURL string // ws://IP:PORT/socket.io/?EIO=4&transport=websocket
}

// ParseTarget validates a base URL such as http://127.0.0.1:3000 and builds
// the Engine.IO WebSocket URL for it. path is used unless the URL carries a
// path of its own; a bare HOST:PORT means http://HOST:PORT. Only loopback
// addresses are accepted.
func ParseTarget(raw, path string) (Target, error) {
	raw = strings.TrimSpace(raw)
	full := raw
	if !strings.Contains(full, "://") {
		full = "http://" + full // allow plain HOST:PORT
	}
	u, err := url.Parse(full)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "ws":
	case "https", "wss":
		return Target{}, fmt.Errorf("target %q: TLS is not supported; use http:// or ws://", raw)
	default:
		return Target{}, fmt.Errorf("target %q: scheme must be http:// or ws://", raw)
	}
	if u.Host == "" {
		return Target{}, fmt.Errorf("target %q: missing host", raw)
	}
	ip, err := LoopbackAddr(u.Hostname())
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", raw, err)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Target{}, fmt.Errorf("target %q: bad port %q", raw, port)
	}
	if u.Path != "" && u.Path != "/" {
		path = u.Path
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	ws := url.URL{
		Scheme:   "ws",
		Host:     net.JoinHostPort(ip.String(), port),
		Path:     path,
		RawQuery: "EIO=4&transport=websocket",
	}
	return Target{Base: raw, WSURL: ws.String()}, nil
}

// LoopbackAddr accepts an IP literal in 127.0.0.0/8 or ::1, or the name
// "localhost" (mapped to 127.0.0.1 without asking any resolver). Anything
// else is refused: this tool only ever loads servers on this machine.
func LoopbackAddr(host string) (netip.Addr, error) {
	if strings.EqualFold(host, "localhost") {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("refusing target host %q: give a loopback IP literal (127.0.0.0/8, ::1) or localhost", host)
	}
	addr = addr.Unmap().WithZone("")
	if !addr.IsLoopback() {
		return netip.Addr{}, fmt.Errorf("refusing non-loopback target %s: herald-bench only loads loopback addresses (127.0.0.0/8, ::1)", addr)
	}
	return addr, nil
}

// ---------------------------------------------------------------------------
// Packets

// Engine.IO v4 packet types (first byte of every text frame).
const (
	eioOpen    = '0'
	eioClose   = '1'
	eioPing    = '2'
	eioPong    = '3'
	eioMessage = '4'
	eioUpgrade = '5'
	eioNoop    = '6'
)

// Socket.IO v5 packet types (first byte after the Engine.IO '4').
const (
	sioConnect      = '0'
	sioDisconnect   = '1'
	sioEvent        = '2'
	sioAck          = '3'
	sioConnectError = '4'
	sioBinaryEvent  = '5'
	sioBinaryAck    = '6'
)

// Packet is one decoded Engine.IO text frame and, for message frames, the
// Socket.IO packet inside it. Slices alias the frame; nothing is allocated.
type Packet struct {
	EIO         byte   // Engine.IO type, '0'..'6'
	SIO         byte   // Socket.IO type '0'..'6' when EIO == '4', else 0
	Attachments int    // binary attachments announced by '5'/'6' packets
	Nsp         []byte // namespace, "/" when absent
	AckID       int64  // -1 when absent
	Data        []byte // remaining payload (JSON for Socket.IO, raw for Engine.IO)
}

var rootNsp = []byte("/")

// ParsePacket decodes a text frame. It follows socket.io-parser's decodeString.
func ParsePacket(frame []byte) (Packet, error) {
	p := Packet{AckID: -1}
	if len(frame) == 0 {
		return p, errors.New("empty packet")
	}
	p.EIO = frame[0]
	if p.EIO < eioOpen || p.EIO > eioNoop {
		return p, fmt.Errorf("unknown engine.io packet type %q", p.EIO)
	}
	if p.EIO != eioMessage {
		p.Data = frame[1:]
		return p, nil
	}
	s := frame[1:]
	if len(s) == 0 {
		return p, errors.New("empty socket.io packet")
	}
	p.SIO = s[0]
	if p.SIO < sioConnect || p.SIO > sioBinaryAck {
		return p, fmt.Errorf("unknown socket.io packet type %q", p.SIO)
	}
	i := 1
	if p.SIO == sioBinaryEvent || p.SIO == sioBinaryAck {
		j := i
		for j < len(s) && s[j] != '-' {
			j++
		}
		n, err := strconv.Atoi(string(s[i:j]))
		if j == len(s) || err != nil || n < 0 {
			return p, errors.New("malformed attachment count")
		}
		p.Attachments = n
		i = j + 1
	}
	p.Nsp = rootNsp
	if i < len(s) && s[i] == '/' {
		j := i
		for j < len(s) && s[j] != ',' {
			j++
		}
		p.Nsp = s[i:j]
		i = j
		if i < len(s) { // skip ','
			i++
		}
	}
	if i < len(s) && s[i] >= '0' && s[i] <= '9' {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		id, err := strconv.ParseInt(string(s[i:j]), 10, 64)
		if err != nil {
			return p, fmt.Errorf("bad ack id: %w", err)
		}
		p.AckID = id
		i = j
	}
	p.Data = s[i:]
	return p, nil
}

// connectPacket returns the Socket.IO CONNECT frame for a namespace, with the auth
// payload (a JSON object such as {"token":"…"}) when auth is not empty.
func connectPacket(nsp string, auth []byte) string {
	if nsp == "" || nsp == "/" {
		return "40" + string(auth)
	}
	return "40" + nsp + "," + string(auth)
}

// EncodeEvent builds a Socket.IO EVENT frame: 42[/nsp,]["event",args...].
func EncodeEvent(nsp, event string, args ...any) (string, error) {
	return encodeEvent(nsp, -1, event, args)
}

// EncodeEventAck builds an EVENT frame that asks for ack id:
// 42[/nsp,]ID["event",args...].
func EncodeEventAck(nsp string, id int64, event string, args ...any) (string, error) {
	return encodeEvent(nsp, id, event, args)
}

func encodeEvent(nsp string, id int64, event string, args []any) (string, error) {
	arr := make([]any, 0, 1+len(args))
	arr = append(arr, event)
	arr = append(arr, args...)
	b, err := json.Marshal(arr)
	if err != nil {
		return "", err
	}
	head := "42"
	if nsp != "" && nsp != "/" {
		head += nsp + ","
	}
	if id >= 0 {
		head += strconv.FormatInt(id, 10)
	}
	return head + string(b), nil
}

// ---------------------------------------------------------------------------
// Dialer and client

// ClientStats are counters shared by every client of a Dialer.
type ClientStats struct {
	Events      atomic.Int64 // EVENT (42/45) packets on our namespace
	Acks        atomic.Int64 // ACK (43/46) packets on our namespace
	Pings       atomic.Int64 // Engine.IO pings answered
	Disconnects atomic.Int64 // connected clients dropped by the server or network
	BadFrames   atomic.Int64 // frames that failed to parse
}

// Dialer opens Socket.IO connections and owns the goroutines that read them.
type Dialer struct {
	Namespace        string        // "/" when empty
	HandshakeTimeout time.Duration // dial start → CONNECT ack; 10s when zero
	ReadBufferSize   int           // per-connection bufio size (gws path only); 1 KiB when zero
	Stats            ClientStats

	// Epoll reads the connections with epoll (Linux only; ignored elsewhere):
	// GOMAXPROCS pollers, each one goroutine with one read buffer, instead of a
	// reader goroutine and a buffer per connection, so a delivered message costs
	// little more than its share of a read(2). Set it before the first Dial.
	Epoll bool

	// OnEvent, when set, is called on the reader goroutine for every EVENT
	// on our namespace; data is only valid during the call. With Epoll the reader
	// is the connection's poller, shared with other connections: OnEvent must be
	// quick, and not wait for anything another connection's message would bring.
	// (What came with the upgrade response is handled on the dialing goroutine.)
	OnEvent func(c *Client, data []byte)

	// Auth, when set, returns the CONNECT auth payload of connection index (a
	// JSON object, e.g. {"token":"…"}; nil for none). It is called on the
	// reader goroutine (or the dialing one) and must not block.
	Auth func(index int) []byte

	// Plain dials the plain WebSocket endpoint (PlainPath, "/ws" when empty)
	// instead of Engine.IO: the connection is ready once the WebSocket is open,
	// events travel as {"event": name, "data": arg} both ways, and Call waits for
	// the reply with the same event name (a NestJS WsAdapter gateway's shape). The
	// server decides the namespace such clients join.
	Plain     bool
	PlainPath string

	readers sync.WaitGroup // reader goroutines (gws) and pollers (epoll)
	ep      epollGroup     // the epoll path's pollers
}

// Client is one Socket.IO connection.
type Client struct {
	// Index is the caller's number for this connection (DialIndex), set before its
	// reader starts, so OnEvent can find per-connection state without a lookup.
	Index int

	d       *Dialer
	conn    clientConn // set before the connection is read
	state   atomic.Int32
	settled atomic.Bool
	closing atomic.Bool
	ready   chan error    // buffered(1): the one outcome of the handshake
	done    chan struct{} // closed when the connection has closed
	sid     string
	ackAt   time.Time // when the CONNECT ack arrived (set before ready)

	ackMu   sync.Mutex
	nextAck int64
	acks    map[int64]chan []byte  // pending Call acks by id; guarded by ackMu
	replies map[string]chan []byte // plain: pending Call replies by event; guarded by ackMu
}

const (
	stateOpening    int32 = iota // websocket up, waiting for Engine.IO open
	stateConnecting              // sent CONNECT, waiting for the ack
	stateConnected
	stateClosed
)

// SID is the Socket.IO session id the server assigned.
func (c *Client) SID() string { return c.sid }

// AckAt is when the CONNECT ack arrived.
func (c *Client) AckAt() time.Time { return c.ackAt }

// Connected reports whether the client is (still) connected.
func (c *Client) Connected() bool { return c.state.Load() == stateConnected }

// Emit sends an EVENT on the client's namespace (plain: the first argument as
// the envelope's data).
func (c *Client) Emit(event string, args ...any) error {
	if c.d.Plain {
		frame, err := encodePlain(event, args)
		if err != nil {
			return err
		}
		return c.conn.WriteString(frame)
	}
	frame, err := EncodeEvent(c.d.nsp(), event, args...)
	if err != nil {
		return err
	}
	return c.conn.WriteString(frame)
}

// encodePlain builds {"event": event, "data": args[0]} (data omitted without
// arguments).
func encodePlain(event string, args []any) (string, error) {
	env := struct {
		Event string `json:"event"`
		Data  any    `json:"data,omitempty"`
	}{Event: event}
	if len(args) > 0 {
		env.Data = args[0]
	}
	b, err := json.Marshal(env)
	return string(b), err
}

// Call emits an EVENT that asks for an acknowledgement and waits for it. It
// returns the ack's JSON argument array, e.g. ["ok"]. On a plain connection
// the reply is the next message with the same event name, and its data is
// returned as a one-element array.
func (c *Client) Call(ctx context.Context, event string, args ...any) ([]byte, error) {
	if c.d.Plain {
		return c.callPlain(ctx, event, args)
	}
	ch := make(chan []byte, 1)
	c.ackMu.Lock()
	id := c.nextAck
	c.nextAck++
	if c.acks == nil {
		c.acks = make(map[int64]chan []byte)
	}
	c.acks[id] = ch
	c.ackMu.Unlock()
	defer func() {
		c.ackMu.Lock()
		delete(c.acks, id)
		c.ackMu.Unlock()
	}()
	frame, err := EncodeEventAck(c.d.nsp(), id, event, args...)
	if err != nil {
		return nil, err
	}
	return c.roundTrip(ctx, event, frame, ch, "ack")
}

// roundTrip sends frame and waits for its answer on ch (an ack or a plain reply,
// what), the end of the connection, or ctx.
func (c *Client) roundTrip(ctx context.Context, event, frame string, ch <-chan []byte, what string) ([]byte, error) {
	if err := c.conn.WriteString(frame); err != nil {
		return nil, err
	}
	select {
	case data := <-ch:
		return data, nil
	case <-c.done:
		return nil, fmt.Errorf("%s: connection closed before the %s", event, what)
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: waiting for the %s: %w", event, what, ctx.Err())
	}
}

func (c *Client) callPlain(ctx context.Context, event string, args []any) ([]byte, error) {
	ch := make(chan []byte, 1)
	c.ackMu.Lock()
	if c.replies == nil {
		c.replies = make(map[string]chan []byte)
	}
	if c.replies[event] != nil {
		c.ackMu.Unlock()
		return nil, fmt.Errorf("%s: a call with this event is already waiting", event)
	}
	c.replies[event] = ch
	c.ackMu.Unlock()
	defer func() {
		c.ackMu.Lock()
		delete(c.replies, event)
		c.ackMu.Unlock()
	}()
	frame, err := encodePlain(event, args)
	if err != nil {
		return nil, err
	}
	return c.roundTrip(ctx, event, frame, ch, "reply")
}

// WriteText sends one text frame as it is (an Engine.IO packet). The frame is
// copied before WriteText returns, so b may be reused.
func (c *Client) WriteText(b []byte) error { return c.conn.WriteText(b) }

// Close sends a WebSocket close frame and ends the connection. Its reader lets
// go of it shortly after; Dialer.Wait waits for that.
func (c *Client) Close() {
	c.closing.Store(true)
	c.conn.shutdown()
}

// closeWriteTimeout bounds the write of the close frame in Client.Close: a peer
// that stopped reading must not hold the caller up.
const closeWriteTimeout = time.Second

// clientConn is what the Client and the message handling need of a connection:
// gwsConn on the gws path, *epollConn on the epoll path. Its methods are safe for
// concurrent use.
type clientConn interface {
	// WriteString and WriteText send one text frame; WriteText's b may be reused
	// once it returns.
	WriteString(s string) error
	WriteText(b []byte) error
	// WriteClose sends a close frame (the first call only) and ends the
	// connection; its reader then runs onClose.
	WriteClose(code uint16, reason []byte) error
	// shutdown is Client.Close: a close frame, written within closeWriteTimeout,
	// then the end of the connection.
	shutdown()
}

// gwsConn is a gws connection as a clientConn.
type gwsConn struct{ *gws.Conn }

func (g gwsConn) WriteText(b []byte) error { return g.WriteMessage(gws.OpcodeText, b) }

func (g gwsConn) shutdown() {
	_ = g.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	_ = g.Conn.WriteClose(1000, nil)
	_ = g.NetConn().Close()
}

func (d *Dialer) nsp() string {
	if d.Namespace == "" {
		return "/"
	}
	return d.Namespace
}

// Wait blocks until every goroutine this Dialer started to read its connections
// has ended: the reader goroutines of the gws path, and the pollers of the epoll
// path, which end once every connection of the Dialer has been closed.
func (d *Dialer) Wait() { d.readers.Wait() }

// useEpoll says whether the Dialer's connections are read with epoll.
func (d *Dialer) useEpoll() bool { return d.Epoll && epollSupported }

// clientReader names the read path of dialers: "epoll", "gws", or "mixed".
func clientReader(dialers ...*Dialer) string {
	epoll := 0
	for _, d := range dialers {
		if d.useEpoll() {
			epoll++
		}
	}
	switch epoll {
	case 0:
		return "gws"
	case len(dialers):
		return "epoll"
	}
	return "mixed"
}

// Dial connects to wsURL and completes the Engine.IO and Socket.IO
// handshakes. It returns once the CONNECT ack has arrived, or fails after
// HandshakeTimeout or when ctx ends.
func (d *Dialer) Dial(ctx context.Context, wsURL string) (*Client, error) {
	return d.DialIndex(ctx, wsURL, 0)
}

// DialIndex is Dial with Client.Index set to index.
func (d *Dialer) DialIndex(ctx context.Context, wsURL string, index int) (*Client, error) {
	timeout := handshakeTimeout(d.HandshakeTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	c := &Client{Index: index, d: d, ready: make(chan error, 1), done: make(chan struct{})}
	if d.Plain {
		u, err := plainURL(wsURL, d.PlainPath)
		if err != nil {
			return nil, err
		}
		wsURL = u
	}
	var err error
	if d.useEpoll() {
		err = d.dialEpoll(ctx, wsURL, c)
	} else {
		err = d.dialGWS(ctx, wsURL, c, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}

	select {
	case err = <-c.ready:
	case <-ctx.Done():
		err = fmt.Errorf("socket.io handshake: %w", ctx.Err())
	}
	if err != nil {
		c.settle(err) // no-op if the reader already settled
		c.Close()
		return nil, err
	}
	return c, nil
}

// dialGWS opens c's WebSocket with gws and starts its reader goroutine.
func (d *Dialer) dialGWS(ctx context.Context, wsURL string, c *Client, timeout time.Duration) error {
	rbuf := d.ReadBufferSize
	if rbuf <= 0 {
		rbuf = 1024
	}
	conn, _, err := gws.NewClient(c, &gws.ClientOption{
		Addr:             wsURL,
		ReadBufferSize:   rbuf,
		ParallelGolimit:  1,
		HandshakeTimeout: timeout,
		NewDialer:        func() (gws.Dialer, error) { return ctxDialer{ctx}, nil },
		NewSession:       func() gws.SessionStorage { return noSession{} },
	})
	if err != nil {
		return err
	}
	c.conn = gwsConn{conn}
	d.readers.Add(1)
	go func() {
		defer d.readers.Done()
		conn.ReadLoop()
	}()
	return nil
}

// settle delivers the handshake outcome exactly once.
func (c *Client) settle(err error) {
	if c.settled.CompareAndSwap(false, true) {
		c.ready <- err
	}
}

// fail ends a connection because of a protocol problem.
func (c *Client) fail(err error) {
	c.settle(err)
	_ = c.conn.WriteClose(1002, nil)
}

// The handling both read paths share. It runs on the connection's reading
// goroutine (the epoll path's dialing goroutine, for what came with the HTTP
// response, before the poller can see the connection).

// onOpen runs once the WebSocket is open, before anything is read from it.
func (c *Client) onOpen() {
	if c.d.Plain { // nothing to negotiate: connected once the WebSocket is open
		c.ackAt = time.Now()
		c.state.Store(stateConnected)
		c.settle(nil)
	}
}

// onClose runs once, when the connection has ended; err is why (nil: unknown).
// done is closed last, so whoever waits for it sees the state and the counters.
func (c *Client) onClose(err error) {
	prev := c.state.Swap(stateClosed)
	if prev == stateConnected && !c.closing.Load() {
		c.d.Stats.Disconnects.Add(1)
	}
	if err == nil {
		err = errors.New("connection closed")
	}
	c.settle(fmt.Errorf("closed before CONNECT ack: %w", err))
	close(c.done)
}

// onText handles one text message; data is only valid during the call.
func (c *Client) onText(data []byte) {
	if c.d.Plain {
		c.onPlain(data)
		return
	}
	p, err := ParsePacket(data)
	if err != nil {
		c.d.Stats.BadFrames.Add(1)
		if c.state.Load() != stateConnected {
			c.fail(fmt.Errorf("bad frame %q: %w", truncate(data), err))
		}
		return
	}
	switch p.EIO {
	case eioOpen:
		if c.state.CompareAndSwap(stateOpening, stateConnecting) {
			var auth []byte
			if c.d.Auth != nil {
				auth = c.d.Auth(c.Index)
			}
			if err := c.conn.WriteString(connectPacket(c.d.nsp(), auth)); err != nil {
				c.fail(fmt.Errorf("send CONNECT: %w", err))
			}
		}
	case eioPing:
		c.d.Stats.Pings.Add(1)
		_ = c.conn.WriteString("3" + string(p.Data)) // "2" → "3", "2probe" → "3probe"
	case eioClose:
		_ = c.conn.WriteClose(1000, nil)
	case eioMessage:
		c.onSocketIO(p)
	}
}

// plainURL turns an Engine.IO WebSocket URL into the plain endpoint's on the
// same host (path "/ws" when empty).
func plainURL(wsURL, path string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", err
	}
	if path == "" {
		path = "/ws"
	}
	u.Path, u.RawQuery = path, ""
	return u.String(), nil
}

// onPlain handles one message of a plain connection: {"event":…,"data":…}.
func (c *Client) onPlain(data []byte) {
	if bytes.HasPrefix(data, plainBenchPrefix) { // the hot path: no decoding here
		c.d.Stats.Events.Add(1)
		if c.d.OnEvent != nil {
			c.d.OnEvent(c, data)
		}
		return
	}
	var env struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(data, &env); err != nil || env.Event == "" {
		c.d.Stats.BadFrames.Add(1)
		return
	}
	c.ackMu.Lock()
	ch := c.replies[env.Event]
	c.ackMu.Unlock()
	if ch != nil {
		c.d.Stats.Acks.Add(1)
		select {
		case ch <- append(append([]byte{'['}, env.Data...), ']'):
		default:
		}
		return
	}
	c.d.Stats.Events.Add(1)
	if c.d.OnEvent != nil {
		c.d.OnEvent(c, data)
	}
}

// gws.Event implementation (the gws path); all of these run on the connection's
// reader goroutine.

func (c *Client) OnOpen(*gws.Conn) { c.onOpen() }

func (c *Client) OnPong(*gws.Conn, []byte) {}

func (c *Client) OnPing(socket *gws.Conn, payload []byte) { _ = socket.WritePong(payload) }

func (c *Client) OnClose(_ *gws.Conn, err error) { c.onClose(err) } // gws calls it once

func (c *Client) OnMessage(_ *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	if msg.Opcode == gws.OpcodeText { // binary attachments are not counted separately
		c.onText(msg.Bytes())
	}
}

func (c *Client) onSocketIO(p Packet) {
	if string(p.Nsp) != c.d.nsp() {
		return
	}
	switch p.SIO {
	case sioConnect:
		if c.state.Load() != stateConnecting {
			return
		}
		var ack struct {
			SID string `json:"sid"`
		}
		if err := json.Unmarshal(p.Data, &ack); err != nil || ack.SID == "" {
			c.fail(fmt.Errorf("bad CONNECT ack %q", truncate(p.Data)))
			return
		}
		c.sid = ack.SID
		c.ackAt = time.Now()
		c.state.Store(stateConnected)
		c.settle(nil)
	case sioConnectError:
		c.fail(fmt.Errorf("CONNECT_ERROR %s", truncate(p.Data)))
	case sioDisconnect:
		_ = c.conn.WriteClose(1000, nil)
	case sioEvent, sioBinaryEvent:
		c.d.Stats.Events.Add(1)
		if c.d.OnEvent != nil {
			c.d.OnEvent(c, p.Data)
		}
	case sioAck, sioBinaryAck:
		c.d.Stats.Acks.Add(1)
		if p.AckID >= 0 {
			c.ackMu.Lock()
			ch := c.acks[p.AckID]
			c.ackMu.Unlock()
			if ch != nil {
				select {
				case ch <- bytes.Clone(p.Data):
				default: // a duplicate ack for the same id
				}
			}
		}
	}
}

func truncate(b []byte) string {
	const max = 120
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// ctxDialer makes the TCP dial honour the Dial context.
type ctxDialer struct{ ctx context.Context }

func (d ctxDialer) Dial(network, addr string) (net.Conn, error) {
	var nd net.Dialer
	return nd.DialContext(d.ctx, network, addr)
}

// noSession is a zero-size gws.SessionStorage (gws would allocate a map).
type noSession struct{}

func (noSession) Len() int                     { return 0 }
func (noSession) Load(string) (any, bool)      { return nil, false }
func (noSession) Delete(string)                {}
func (noSession) Store(string, any)            {}
func (noSession) Range(func(string, any) bool) {}
