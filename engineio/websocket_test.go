package engineio

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testclient"
)

// recordHandler records every call, in order, and blocks OnMessage for "4block"
// until release is closed.
type recordHandler struct {
	mu      sync.Mutex
	events  []string // "msg:<data>" or "close:<reason>"
	release chan struct{}
	blocked chan struct{} // receives once per "block" message, when it starts blocking
	closed  chan struct{}
	delay   time.Duration // per message
}

func newRecordHandler() *recordHandler {
	return &recordHandler{release: make(chan struct{}), blocked: make(chan struct{}, 16), closed: make(chan struct{}, 16)}
}

func (h *recordHandler) OnOpen(*Session) {}

func (h *recordHandler) OnMessage(s *Session, data []byte, _ bool) {
	switch string(data) {
	case "block":
		h.blocked <- struct{}{}
		<-h.release
	case "panic":
		panic("handler panic")
	case "echo":
		_ = s.SendMessage(data)
	case "deep":
		deepStack(8)
	}
	if h.delay > 0 {
		time.Sleep(h.delay)
	}
	h.mu.Lock()
	h.events = append(h.events, "msg:"+string(data))
	h.mu.Unlock()
}

// deepStack uses about depth KB of stack.
//
//go:noinline
func deepStack(depth int) byte {
	var b [1000]byte
	b[depth] = byte(depth)
	if depth == 0 {
		return b[0]
	}
	return deepStack(depth-1) + b[depth]
}

func (h *recordHandler) OnClose(_ *Session, r Reason) {
	h.mu.Lock()
	h.events = append(h.events, "close:"+r.String())
	h.mu.Unlock()
	select {
	case h.closed <- struct{}{}:
	default:
	}
}

func (h *recordHandler) snapshot() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

func startRecordServer(t *testing.T, cfg Config) (*Server, *recordHandler, string) {
	t.Helper()
	h := newRecordHandler()
	srv, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
		_ = srv.Close()
		ts.Close()
	})
	return srv, h, wsURL(ts.URL) + "/?EIO=4&transport=websocket"
}

// onlySession returns the server's only session.
func onlySession(t *testing.T, srv *Server) *Session {
	t.Helper()
	var s *Session
	testclient.WaitFor(t, func() bool {
		if all := srv.sessions.all(); len(all) == 1 {
			s = all[0]
		}
		return s != nil
	})
	return s
}

func wantMessages(t *testing.T, got []string, from, to int) {
	t.Helper()
	var want []string
	for i := from; i < to; i++ {
		want = append(want, "msg:"+strconv.Itoa(i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("messages out of order or missing:\n got %v\nwant %v", got, want)
	}
}

// TestWebSocketMessagesInOrder: messages are handled one at a time, in the order they
// were sent, even when they arrive faster than the handler takes them.
func TestWebSocketMessagesInOrder(t *testing.T) {
	_, h, u := startRecordServer(t, Config{})
	h.delay = 200 * time.Microsecond
	c := testclient.Dial(t, u, testclient.Options{})
	c.Expect(t, "0{*")
	const n = 300
	for i := range n {
		c.SendText(t, "4"+strconv.Itoa(i))
	}
	testclient.WaitFor(t, func() bool { return len(h.snapshot()) == n })
	wantMessages(t, h.snapshot(), 0, n)
}

// TestWebSocketBlockedHandler: a handler that blocks holds up its own connection only,
// and a client that keeps sending meanwhile is held back: the connection takes one
// more message, then stops reading.
func TestWebSocketBlockedHandler(t *testing.T) {
	srv, h, u := startRecordServer(t, Config{})
	slow := testclient.Dial(t, u, testclient.Options{})
	slow.Expect(t, "0{*")
	s := onlySession(t, srv)
	slow.SendText(t, "4block")
	<-h.blocked

	// The other connection is served while the first handler is blocked.
	other := testclient.Dial(t, u, testclient.Options{})
	other.Expect(t, "0{*")
	other.SendText(t, "4echo")
	other.Expect(t, "4echo")

	// Flood the blocked connection with 64 KiB messages: the reader hands one over
	// and waits; the rest stay in the sockets until the handler returns.
	const n = 64
	big := strings.Repeat("x", 64<<10)
	sent := make(chan error, 1)
	go func() {
		tb := &goroutineTB{TB: t}
		defer func() { sent <- tb.err }()
		for i := range n {
			slow.SendText(tb, fmt.Sprintf("4%d %s", i, big))
		}
	}()
	slot := slotOf(s.ws)
	testclient.WaitFor(t, func() bool {
		slot.mu.Lock()
		defer slot.mu.Unlock()
		return slot.next != nil && slot.waiting
	})
	// Nothing more may be taken while the handler is blocked: give the reader time to
	// (wrongly) move on before looking again.
	time.Sleep(50 * time.Millisecond)
	slot.mu.Lock()
	handedOver, waiting := slot.next != nil, slot.waiting
	slot.mu.Unlock()
	if !handedOver || !waiting {
		t.Fatalf("reader should wait with one message handed over (handed over %v, waiting %v)", handedOver, waiting)
	}
	if got := h.snapshot(); len(got) != 1 || got[0] != "msg:echo" {
		t.Fatalf("handled while blocked: %v", got)
	}

	close(h.release)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	testclient.WaitFor(t, func() bool { return len(h.snapshot()) == n+2 })
	got := h.snapshot()
	if got[1] != "msg:block" {
		t.Fatalf("events %v", got[:2])
	}
	for i, e := range got[2:] {
		if !strings.HasPrefix(e, "msg:"+strconv.Itoa(i)+" ") {
			t.Fatalf("message %d out of order: %.20q", i, e)
		}
	}
}

// TestWebSocketCloseAfterMessages: OnClose comes after every message read before the
// client closed the connection.
func TestWebSocketCloseAfterMessages(t *testing.T) {
	_, h, u := startRecordServer(t, Config{})
	h.delay = time.Millisecond
	c := testclient.Dial(t, u, testclient.Options{})
	c.Expect(t, "0{*")
	const n = 20
	for i := range n {
		c.SendText(t, "4"+strconv.Itoa(i))
	}
	c.Close()
	select {
	case <-h.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("no OnClose")
	}
	got := h.snapshot()
	if len(got) != n+1 || !strings.HasPrefix(got[n], "close:") {
		t.Fatalf("want %d messages then the close, got %v", n, got)
	}
	wantMessages(t, got[:n], 0, n)
}

// TestWebSocketHandlerPanic: a panicking handler is recovered and the connection goes
// on with the next message.
func TestWebSocketHandlerPanic(t *testing.T) {
	_, h, u := startRecordServer(t, Config{})
	c := testclient.Dial(t, u, testclient.Options{})
	c.Expect(t, "0{*")
	c.SendText(t, "4panic")
	c.SendText(t, "4echo")
	c.Expect(t, "4echo")
	if got := h.snapshot(); !slices.Equal(got, []string{"msg:echo"}) {
		t.Fatalf("events %v", got)
	}
}

// TestWebSocketReaderStackStaysSmall: handling a message that needs a deep stack
// does not grow the reader goroutine's stack (see wsHandler.OnMessage): an idle
// connection keeps the stack it started with.
func TestWebSocketReaderStackStaysSmall(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes stack sizes")
	}
	srv, h, u := startRecordServer(t, Config{Transports: []string{TransportWebSocket}})
	const n = 200
	conns := make([]*testclient.Conn, n)
	for i := range conns {
		// Paused: no client read goroutines, so the stacks counted are the server's.
		conns[i] = testclient.Dial(t, u, testclient.Options{Paused: true})
	}
	testclient.WaitFor(t, func() bool { return srv.Count() == n })
	idle := func() bool {
		for _, s := range srv.sessions.all() {
			slot := slotOf(s.ws)
			slot.mu.Lock()
			busy := slot.processing
			slot.mu.Unlock()
			if busy {
				return false
			}
		}
		return true
	}
	stacks := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.StackInuse
	}
	before := stacks()
	for _, c := range conns {
		c.SendText(t, "4deep")
	}
	testclient.WaitFor(t, func() bool { return len(h.snapshot()) == n && idle() })
	after := stacks()
	grown := (float64(after) - float64(before)) / n
	t.Logf("stack per connection: %.0f bytes before the messages, %+.0f after", float64(before)/n, grown)
	if grown > 1024 {
		t.Fatalf("reader stacks grew by %.0f bytes each handling a message", grown)
	}
}

// goroutineTB lets testclient calls run on a goroutine other than the test's: a
// failure is recorded and ends that goroutine instead of the test.
type goroutineTB struct {
	testing.TB
	err error
}

func (g *goroutineTB) Fatalf(format string, args ...any) {
	g.err = fmt.Errorf(format, args...)
	runtime.Goexit()
}

// TestServeConnSocket: a WebSocket served with ServeConn on a socket accepted outside
// net/http works like one upgraded by ServeHTTP.
func TestServeConnSocket(t *testing.T) {
	h := newRecordHandler()
	srv, err := New(Config{}, h)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		br := bufio.NewReader(nc)
		req, err := http.ReadRequest(br)
		if err != nil {
			served <- err
			return
		}
		served <- srv.ServeConn(nc, br, req)
	}()
	c := testclient.Dial(t, "ws://"+ln.Addr().String()+"/?EIO=4&transport=websocket", testclient.Options{})
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	c.Expect(t, "0{*")
	if nc := onlySession(t, srv).ws.NetConn(); shallowReads && netConn(nc) == nc {
		t.Errorf("ServeConn did not read the socket through shallowConn: %T", nc)
	}
	c.SendText(t, "4echo")
	c.Expect(t, "4echo")
	_ = srv.Close()
}
