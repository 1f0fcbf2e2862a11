package plainws

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/socketio"
)

// start serves a socketio server on /socket.io/ and its plain endpoint on /ws.
func start(t *testing.T, cfg Config) (*socketio.Server, *Server, string) {
	t.Helper()
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(io, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io)
	mux.Handle("/ws", p)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = p.Shutdown(t.Context())
		_ = io.Close()
		ts.Close()
	})
	return io, p, "ws" + strings.TrimPrefix(ts.URL, "http")
}

func TestEchoAndRooms(t *testing.T) {
	io, p, base := start(t, Config{})
	nsp := io.Of("/")
	nsp.On("echo", func(s *socketio.Socket, ev *socketio.Event) { _ = ev.Ack(ev.Args) })
	nsp.On("join", func(s *socketio.Socket, ev *socketio.Event) {
		room, _ := ev.String(0)
		s.Join(room)
		_ = ev.Ack(room)
	})
	nsp.On("silent", func(*socketio.Socket, *socketio.Event) {})
	c := testclient.Dial(t, base+"/ws", testclient.Options{})
	c.SendText(t, `{"event":"echo","data":{"a":"<&>","n":[1,2.5,null]}}`)
	c.Expect(t, `{"event":"echo","data":{"a":"<&>","n":[1,2.5,null]}}`)
	c.SendText(t, `{"event":"echo"}`)
	c.Expect(t, `{"event":"echo"}`)
	c.SendText(t, `{"event":"silent","data":1}`) // no reply, no close
	c.SendText(t, `{"event":"join","data":"r1"}`)
	c.Expect(t, `{"event":"join","data":"r1"}`)
	// Socket.IO and plain sockets share rooms; each gets its own wire format.
	if n, _ := nsp.To("r1").EmitCount("room-msg", map[string]int{"x": 1}); n != 1 {
		t.Fatalf("room reached %d", n)
	}
	c.Expect(t, `{"event":"room-msg","data":{"x":1}}`)
	_ = nsp.Emit("multi", 1, "two")
	c.Expect(t, `{"event":"multi","data":[1,"two"]}`)
	if p.Count() != 1 || nsp.Count() != 1 {
		t.Fatalf("counts %d %d", p.Count(), nsp.Count())
	}
	c.Close()
	testclient.WaitFor(t, func() bool { return nsp.Count() == 0 && p.Count() == 0 })
}

func TestBadFrames(t *testing.T) {
	io, _, base := start(t, Config{MaxPayload: 1024})
	reasons := make(chan string, 8)
	io.Of("/").OnConnection(func(s *socketio.Socket) {
		s.OnDisconnect(func(_ *socketio.Socket, r string) { reasons <- r })
	})
	tests := []struct {
		name string
		send func(c *testclient.Conn)
		code uint16
	}{
		{"not json", func(c *testclient.Conn) { c.SendText(t, "not json") }, CloseInvalidPayload},
		{"no event", func(c *testclient.Conn) { c.SendText(t, `{"data":1}`) }, ClosePolicyViolation},
		{"binary", func(c *testclient.Conn) { c.SendBinary(t, []byte{1}) }, CloseUnsupportedData},
		{"too large", func(c *testclient.Conn) { c.SendText(t, `{"event":"x","data":"`+strings.Repeat("y", 2000)+`"}`) }, 1009},
	}
	for _, tt := range tests {
		c := testclient.Dial(t, base+"/ws", testclient.Options{})
		tt.send(c)
		code, reason, err := testclient.CloseCode(c.Closed(t, 5*time.Second))
		if err != nil || code != tt.code || reason == "" {
			t.Errorf("%s: close %d %q %v, want %d with a reason", tt.name, code, reason, err, tt.code)
		}
		select {
		case <-reasons:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: socket never disconnected", tt.name)
		}
	}
}

func TestRefusedByMiddleware(t *testing.T) {
	io, _, base := start(t, Config{})
	io.Of("/").Use(func(s *socketio.Socket) error {
		if s.Handshake().Query().Get("token") != "ok" {
			return &socketio.ConnectError{Message: "set JWT cookie to authenticate"}
		}
		return nil
	})
	c := testclient.Dial(t, base+"/ws", testclient.Options{})
	code, reason, err := testclient.CloseCode(c.Closed(t, 5*time.Second))
	if err != nil || code != CloseRefused || reason != "set JWT cookie to authenticate" {
		t.Fatalf("close %d %q %v", code, reason, err)
	}
	c = testclient.Dial(t, base+"/ws?token=ok", testclient.Options{})
	_ = c
	testclient.WaitFor(t, func() bool { return io.Of("/").Count() == 1 })
}

func TestShutdownClosesWith1001(t *testing.T) {
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(io, Config{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(p)
	defer ts.Close()
	defer io.Close()
	c := testclient.Dial(t, "ws"+strings.TrimPrefix(ts.URL, "http"), testclient.Options{})
	testclient.WaitFor(t, func() bool { return p.Count() == 1 })
	if err := p.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := testclient.CloseCode(c.Closed(t, 5*time.Second)); code != 1001 {
		t.Fatalf("close code %d", code)
	}
	resp, err := http.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after shutdown: %d", resp.StatusCode)
	}
}

func TestIdleConnectionTimesOut(t *testing.T) {
	io, _, base := start(t, Config{PingInterval: 30 * time.Millisecond, PingTimeout: 30 * time.Millisecond})
	gone := make(chan string, 1)
	io.Of("/").OnConnection(func(s *socketio.Socket) {
		s.OnDisconnect(func(_ *socketio.Socket, r string) { gone <- r })
	})
	// A paused client never answers pings (its WebSocket library never reads them).
	testclient.Dial(t, base+"/ws", testclient.Options{Paused: true})
	select {
	case r := <-gone:
		if r != "transport error" {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection not closed")
	}
}

func TestConfigValidation(t *testing.T) {
	io, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	if _, err := New(io, Config{MaxPayload: -1}); err == nil {
		t.Fatal("negative MaxPayload accepted")
	}
	if !errors.Is(ErrInvalidJSON, ErrInvalidJSON) {
		t.Fatal()
	}
}

// TestQueueBeforeCloseAndPong: what a handler sends before disconnecting the socket
// arrives before the close frame (the close waits for the queue); a WebSocket ping
// is answered with a pong carrying its payload.
func TestQueueBeforeCloseAndPong(t *testing.T) {
	io, _, base := start(t, Config{})
	nsp := io.Of("/")
	nsp.On("bye", func(s *socketio.Socket, _ *socketio.Event) {
		for i := range 3 {
			_ = s.Emit("last", i)
		}
		s.Disconnect(false)
	})
	c := testclient.Dial(t, base+"/ws", testclient.Options{})
	c.Ping(t, "ping payload")
	c.SendText(t, `{"event":"bye"}`)
	for i := range 3 {
		c.Expect(t, `{"event":"last","data":`+string(rune('0'+i))+`}`)
	}
	if code, _, err := testclient.CloseCode(c.Closed(t, 5*time.Second)); err != nil || code != 1000 {
		t.Fatalf("close code %d (%v), want 1000 after the queued messages", code, err)
	}
}

// TestSlowReaderIsDropped: a plain client that stops reading is disconnected as a
// slow consumer while a reading one gets every broadcast.
func TestSlowReaderIsDropped(t *testing.T) {
	io, p, base := start(t, Config{WriteQueueBytes: 128 << 10})
	nsp := io.Of("/")
	slow := testclient.Dial(t, base+"/ws", testclient.Options{Paused: true, RecvBuffer: 4096})
	_ = slow
	fast := testclient.Dial(t, base+"/ws", testclient.Options{})
	testclient.WaitFor(t, func() bool { return p.Count() == 2 })
	payload := strings.Repeat("x", 16<<10)
	for round := 0; p.Count() == 2; round++ {
		if round == 2000 {
			t.Fatal("the slow reader was never dropped")
		}
		if err := nsp.Emit("tick", payload); err != nil {
			t.Fatal(err)
		}
		fast.Expect(t, `{"event":"tick","data":"`+payload+`"}`)
	}
	testclient.WaitFor(t, func() bool { return p.Count() == 1 && nsp.Count() == 1 }) // the reader is left
}
