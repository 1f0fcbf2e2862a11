package engineio

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testclient"
	"github.com/lxzan/gws"
)

// echoHandler echoes every message back and records closes.
type echoHandler struct {
	mu     sync.Mutex
	closed map[string]Reason
	closes chan Reason
}

func newEchoHandler() *echoHandler {
	return &echoHandler{closed: make(map[string]Reason), closes: make(chan Reason, 100)}
}

func (h *echoHandler) OnOpen(*Session) {}

func (h *echoHandler) OnMessage(s *Session, data []byte, binary bool) {
	if binary {
		_ = s.SendBinary(append([]byte(nil), data...))
		return
	}
	switch string(data) {
	case "close-me":
		s.Close()
		return
	case "panic":
		panic("handler panic (test)")
	}
	_ = s.SendMessage(data)
}

func (h *echoHandler) OnClose(s *Session, r Reason) {
	h.mu.Lock()
	h.closed[s.ID()] = r
	h.mu.Unlock()
	h.closes <- r
}

func (h *echoHandler) waitClose(t *testing.T) Reason {
	t.Helper()
	select {
	case r := <-h.closes:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("session not closed")
	}
	return 0
}

// epollTests makes startServer and testConfig turn Config.EpollReads on; TestEpoll
// sets it to run the WebSocket tests again over the epoll reader.
var epollTests bool

// testConfig is cfg as the current test mode wants it.
func testConfig(cfg Config) Config {
	cfg.EpollReads = cfg.EpollReads || epollTests
	return cfg
}

func startServer(t *testing.T, cfg Config) (*Server, *echoHandler, string) {
	t.Helper()
	h := newEchoHandler()
	srv, err := New(testConfig(cfg), h)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		ts.Close()
	})
	return srv, h, ts.URL
}

type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func handshake(t *testing.T, base string) openPacket {
	t.Helper()
	code, body := get(t, base+"/?EIO=4&transport=polling")
	if code != 200 || !strings.HasPrefix(body, "0{") {
		t.Fatalf("handshake: %d %q", code, body)
	}
	var op openPacket
	if err := json.Unmarshal([]byte(body[1:]), &op); err != nil {
		t.Fatal(err)
	}
	return op
}

func TestHandshakePolling(t *testing.T) {
	_, _, base := startServer(t, Config{})
	op := handshake(t, base)
	if len(op.SID) != 20 || len(op.Upgrades) != 1 || op.Upgrades[0] != "websocket" ||
		op.PingInterval != 25000 || op.PingTimeout != 20000 || op.MaxPayload != 1000000 {
		t.Fatalf("open packet %+v", op)
	}
}

func TestHTTPErrors(t *testing.T) {
	srv, _, base := startServer(t, Config{Transports: []string{TransportPolling}})
	_ = srv
	tests := []struct {
		method, query string
		status        int
		body          string
	}{
		{"GET", "EIO=3&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"GET", "transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"GET", "EIO=4&transport=bogus", 400, `{"code":0,"message":"Transport unknown"}`},
		{"GET", "EIO=4&transport=websocket", 400, `{"code":0,"message":"Transport unknown"}`}, // disabled here
		{"GET", "EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"POST", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"PUT", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, base+"/?"+tt.query, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || string(b) != tt.body || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s ?%s = %d %q (%s), want %d %q", tt.method, tt.query, resp.StatusCode, b, resp.Header.Get("Content-Type"), tt.status, tt.body)
		}
	}
}

func TestForbidden(t *testing.T) {
	_, _, base := startServer(t, Config{AllowRequest: func(r *http.Request) error {
		if r.URL.Query().Get("key") != "ok" {
			return io.EOF
		}
		return nil
	}})
	if code, body := get(t, base+"/?EIO=4&transport=polling"); code != 403 || body != `{"code":4,"message":"Forbidden"}` {
		t.Fatalf("got %d %q", code, body)
	}
	if code, _ := get(t, base+"/?EIO=4&transport=polling&key=ok"); code != 200 {
		t.Fatalf("allowed request got %d", code)
	}
}

func TestPollingEcho(t *testing.T) {
	_, h, base := startServer(t, Config{})
	op := handshake(t, base)
	u := base + "/?EIO=4&transport=polling&sid=" + op.SID
	if code, body := post(t, u, "4hello\x1e4€\x1ebAQIDBA=="); code != 200 || body != "ok" {
		t.Fatalf("POST: %d %q", code, body)
	}
	code, body := get(t, u)
	if code != 200 || body != "4hello\x1e4€\x1ebAQIDBA==" {
		t.Fatalf("GET: %d %q", code, body)
	}
	// The client closes: the session is gone and its next GET is refused.
	if code, _ := post(t, u, "1"); code != 200 {
		t.Fatalf("close POST: %d", code)
	}
	if r := h.waitClose(t); r != ReasonTransportClose {
		t.Fatalf("reason %v", r)
	}
	if code, body := get(t, u); code != 400 || !strings.Contains(body, `"code":1`) {
		t.Fatalf("GET after close: %d %q", code, body)
	}
}

func TestPollingHeldGetReleasedBySend(t *testing.T) {
	_, _, base := startServer(t, Config{})
	op := handshake(t, base)
	u := base + "/?EIO=4&transport=polling&sid=" + op.SID
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(u)
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	// The GET is held until the echo of this POST is queued.
	post(t, u, "4ping-me")
	select {
	case b := <-got:
		if b != "4ping-me" {
			t.Fatalf("held GET answered %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held GET never answered")
	}
}

func TestPollingOverlapAndAbort(t *testing.T) {
	srv, h, base := startServer(t, Config{})
	op := handshake(t, base)
	u := base + "/?EIO=4&transport=polling&sid=" + op.SID
	first := make(chan string, 1)
	go func() {
		_, b := get(t, u)
		first <- b
	}()
	// Wait until the first GET is held, then send a second one.
	testclient.WaitFor(t, func() bool {
		s := srv.Session(op.SID)
		if s == nil {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.poll != nil
	})
	if code, _ := get(t, u); code != 400 {
		t.Fatalf("overlapping GET: %d, want 400", code)
	}
	if r := h.waitClose(t); r != ReasonTransportError {
		t.Fatalf("overlap close reason %v", r)
	}
	if b := <-first; b != "1" {
		t.Fatalf("first GET after overlap got %q, want close packet", b)
	}

	// An aborted held GET closes the session.
	op = handshake(t, base)
	u = base + "/?EIO=4&transport=polling&sid=" + op.SID
	req, _ := http.NewRequest("GET", u, nil)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	testclient.WaitFor(t, func() bool {
		s := srv.Session(op.SID)
		if s == nil {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.poll != nil
	})
	tr.CloseIdleConnections()
	cancelReq(tr, req)
	<-done
	if r := h.waitClose(t); r != ReasonTransportError {
		t.Fatalf("aborted GET close reason %v", r)
	}
	if srv.Session(op.SID) != nil {
		t.Fatal("session still registered after aborted GET")
	}
}

func cancelReq(tr *http.Transport, req *http.Request) {
	//lint:ignore SA1019 the request has no context to cancel; closing the connection is the point
	tr.CancelRequest(req) //nolint:staticcheck
}

func TestPollingPayloadTooLarge(t *testing.T) {
	_, h, base := startServer(t, Config{MaxPayload: 100})
	op := handshake(t, base)
	u := base + "/?EIO=4&transport=polling&sid=" + op.SID
	if code, _ := post(t, u, "4"+strings.Repeat("x", 200)); code != 413 {
		t.Fatalf("oversized POST: %d, want 413", code)
	}
	if r := h.waitClose(t); r != ReasonPayloadTooLarge {
		t.Fatalf("reason %v", r)
	}
	// The client's next GET takes the close packet.
	if code, body := get(t, u); code != 200 || body != "1" {
		t.Fatalf("GET after close: %d %q", code, body)
	}
}

func TestPollingParseError(t *testing.T) {
	_, h, base := startServer(t, Config{})
	op := handshake(t, base)
	u := base + "/?EIO=4&transport=polling&sid=" + op.SID
	if code, _ := post(t, u, "4ok\x1e9bad"); code != 400 {
		t.Fatalf("bad payload: %d", code)
	}
	if r := h.waitClose(t); r != ReasonParseError {
		t.Fatalf("reason %v", r)
	}
}

func TestCORS(t *testing.T) {
	_, _, base := startServer(t, Config{AllowedOrigins: []string{"http://app.example"}})
	req, _ := http.NewRequest("OPTIONS", base+"/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "http://app.example")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" ||
		resp.Header.Get("Access-Control-Allow-Credentials") != "true" || resp.Header.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ = http.NewRequest("GET", base+"/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "http://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin got CORS headers: %v", resp.Header)
	}
}

func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") }

func TestWebSocketOnly(t *testing.T) {
	_, h, base := startServer(t, Config{})
	c := testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket", testclient.Options{})
	open := c.Expect(t, "0{*")
	var op openPacket
	if err := json.Unmarshal([]byte(open[1:]), &op); err != nil || len(op.Upgrades) != 0 {
		t.Fatalf("open %q: %v", open, err)
	}
	c.SendText(t, "4hello")
	c.Expect(t, "4hello")
	c.Ping(t, "are you there") // the pong goes through the session's queue
	c.SendBinary(t, []byte{1, 2, 3})
	if m := c.Next(t, 5*time.Second); !m.Binary || string(m.Data) != "\x01\x02\x03" {
		t.Fatalf("binary echo %+v", m)
	}
	// Server-side close: the client gets a close frame.
	c.SendText(t, "4close-me")
	err := c.Closed(t, 5*time.Second)
	if code, _, cerr := testclient.CloseCode(err); cerr != nil || code != 1000 {
		t.Fatalf("close: %v %v", code, cerr)
	}
	if r := h.waitClose(t); r != ReasonForcedClose {
		t.Fatalf("reason %v", r)
	}
}

func TestWebSocketParseErrorAndTooLarge(t *testing.T) {
	_, h, base := startServer(t, Config{MaxPayload: 64})
	c := testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket", testclient.Options{})
	c.Expect(t, "0{*")
	c.SendText(t, "9nonsense")
	if code, _, _ := testclient.CloseCode(c.Closed(t, 5*time.Second)); code != 1002 {
		t.Fatalf("parse error close code %d, want 1002", code)
	}
	if r := h.waitClose(t); r != ReasonParseError {
		t.Fatalf("reason %v", r)
	}

	c = testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket", testclient.Options{})
	c.Expect(t, "0{*")
	c.SendText(t, "4"+strings.Repeat("x", 100))
	if code, _, _ := testclient.CloseCode(c.Closed(t, 5*time.Second)); code != 1009 {
		t.Fatalf("too large close code %d, want 1009", code)
	}
	if r := h.waitClose(t); r != ReasonPayloadTooLarge {
		t.Fatalf("reason %v", r)
	}
}

func TestPingTimeout(t *testing.T) {
	_, h, base := startServer(t, Config{PingInterval: 20 * time.Millisecond, PingTimeout: 30 * time.Millisecond})
	// A client that answers pings stays connected through several intervals.
	c := testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket", testclient.Options{})
	c.Expect(t, "0{*")
	for range 5 {
		if m := c.Next(t, time.Second); string(m.Data) != "2" {
			t.Fatalf("want ping, got %q", m.Data)
		}
		c.SendText(t, "3")
	}
	c.SendText(t, "4still-here")
	c.Expect(t, "4still-here")
	// Then it stops answering.
	if m := c.Next(t, time.Second); string(m.Data) != "2" {
		t.Fatalf("want ping, got %q", m.Data)
	}
	if r := h.waitClose(t); r != ReasonPingTimeout {
		t.Fatalf("reason %v", r)
	}
	c.Closed(t, 5*time.Second)
}

func TestUpgrade(t *testing.T) {
	srv, _, base := startServer(t, Config{})
	op := handshake(t, base)
	u := base + "/?EIO=4&transport=polling&sid=" + op.SID
	// A held GET is released with a noop once the probe is answered.
	held := make(chan string, 1)
	go func() {
		_, b := get(t, u)
		held <- b
	}()
	testclient.WaitFor(t, func() bool {
		s := srv.Session(op.SID)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.poll != nil
	})
	c := testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket&sid="+op.SID, testclient.Options{})
	// A second WebSocket for the same sid is refused while the first is upgrading.
	req, _ := http.NewRequest("GET", base+"/?EIO=4&transport=websocket&sid="+op.SID, nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("second upgrade got %d", resp.StatusCode)
	}
	c.SendText(t, "2probe")
	c.Expect(t, "3probe")
	if b := <-held; b != "6" {
		t.Fatalf("held GET got %q, want noop", b)
	}
	// A message sent while paused is queued, then delivered over the WebSocket.
	s := srv.Session(op.SID)
	_ = s.SendMessage([]byte("queued"))
	c.SendText(t, "5")
	c.Expect(t, "4queued")
	if s.Transport() != TransportWebSocket {
		t.Fatalf("transport %s after upgrade", s.Transport())
	}
	c.SendText(t, "4over-ws")
	c.Expect(t, "4over-ws")
	// Polling on an upgraded session is a transport mismatch.
	if code, body := get(t, u); code != 400 || !strings.Contains(body, `"code":3`) {
		t.Fatalf("polling after upgrade: %d %q", code, body)
	}
}

func TestUpgradeAbortedByBadPacket(t *testing.T) {
	srv, _, base := startServer(t, Config{})
	op := handshake(t, base)
	c := testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket&sid="+op.SID, testclient.Options{})
	c.SendText(t, "4too-early")
	c.Closed(t, 5*time.Second)
	s := srv.Session(op.SID)
	if s == nil || s.Transport() != TransportPolling {
		t.Fatal("polling session should survive a failed upgrade")
	}
	// And it still polls.
	u := base + "/?EIO=4&transport=polling&sid=" + op.SID
	post(t, u, "4after")
	if _, b := get(t, u); b != "4after" {
		t.Fatalf("poll after failed upgrade got %q", b)
	}
}

// TestSlowConsumer: a client that never reads is closed once its queue is full, and
// Send never blocks the caller.
func TestSlowConsumer(t *testing.T) {
	srv, h, base := startServer(t, Config{WriteQueueBytes: 64 << 10})
	c := testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket", testclient.Options{Paused: true})
	_ = c
	var s *Session
	testclient.WaitFor(t, func() bool {
		all := srv.sessions.all()
		if len(all) == 1 {
			s = all[0]
		}
		return s != nil
	})
	f := NewFrame(append([]byte("4"), make([]byte, 8<<10)...))
	var err error
	start := time.Now()
	for i := 0; i < 100000 && err == nil; i++ {
		err = s.Send(f)
	}
	if err != ReasonSlowConsumer {
		t.Fatalf("Send never reported the overflow: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("sending took %v: Send blocked", d)
	}
	if r := h.waitClose(t); r != ReasonSlowConsumer {
		t.Fatalf("reason %v", r)
	}
}

func TestShutdown(t *testing.T) {
	srv, h, base := startServer(t, Config{})
	c := testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket", testclient.Options{})
	c.Expect(t, "0{*")
	op := handshake(t, base)
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := testclient.CloseCode(c.Closed(t, 5*time.Second)); code != 1001 {
		t.Fatalf("websocket close code %d, want 1001", code)
	}
	// The polling client's next GET receives the close packet.
	if code, body := get(t, base+"/?EIO=4&transport=polling&sid="+op.SID); code != 200 || body != "1" {
		t.Fatalf("polling after shutdown: %d %q", code, body)
	}
	for range 2 {
		if r := h.waitClose(t); r != ReasonServerShutdown {
			t.Fatalf("reason %v", r)
		}
	}
	if code, _ := get(t, base+"/?EIO=4&transport=polling"); code != 503 {
		t.Fatalf("handshake after shutdown: %d", code)
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.PingInterval != DefaultPingInterval || c.PingTimeout != DefaultPingTimeout || c.MaxPayload != DefaultMaxPayload ||
		len(c.Transports) != 2 || c.ReadBufferSize != DefaultReadBufferSize || c.WriteQueueBytes != DefaultWriteQueueBytes {
		t.Fatalf("defaults %+v", c)
	}
	if c, _ := (Config{PingInterval: time.Nanosecond}).withDefaults(); c.PingInterval != minTimer {
		t.Fatalf("tiny interval not raised to the floor: %v", c.PingInterval)
	}
	for _, bad := range []Config{{MaxPayload: -1}, {WriteQueueBytes: -1}, {Transports: []string{"carrier-pigeon"}},
		{WriteWorkers: -1}, {WriteDelay: -time.Millisecond}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	in := Config{Transports: []string{TransportWebSocket}}
	out, _ := in.withDefaults()
	out.Transports[0] = "x"
	if in.Transports[0] != TransportWebSocket {
		t.Fatal("withDefaults wrote into the caller's slice")
	}
}

// TestHandlerPanic: a handler that panics is recovered, logged, and the connection's
// next message is handled (the dispatch lock is not left held).
func TestHandlerPanic(t *testing.T) {
	_, _, base := startServer(t, Config{})
	c := testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket", testclient.Options{})
	c.Expect(t, "0{*")
	c.SendText(t, "4panic")
	c.SendText(t, "4after")
	c.Expect(t, "4after")
}

// TestShutdownDuringHandshakes: WebSocket handshakes that race Shutdown either are
// refused or get a session that Shutdown closes; Shutdown returns and no goroutine
// is left behind (goleak in TestMain; the race detector checks the WaitGroup).
func TestShutdownDuringHandshakes(t *testing.T) {
	srv, _, base := startServer(t, Config{})
	url := wsURL(base) + "/?EIO=4&transport=websocket"
	stop := make(chan struct{})
	var dialers sync.WaitGroup
	var opened atomic.Int64
	for range 8 {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, _, err := gws.NewClient(new(gws.BuiltinEventHandler), &gws.ClientOption{Addr: url})
				if err != nil {
					continue // refused once Shutdown began
				}
				opened.Add(1)
				dialers.Add(1)
				go func() {
					defer dialers.Done()
					c.ReadLoop() // answers the server's close frame, ends when the socket closes
				}()
			}
		}()
	}
	testclient.WaitFor(t, func() bool { return opened.Load() >= 20 })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	close(stop)
	dialers.Wait()
	if n := srv.Count(); n != 0 {
		t.Fatalf("%d sessions left after Shutdown", n)
	}
}
