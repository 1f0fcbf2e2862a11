package engineio

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testclient"

	"golang.org/x/sys/unix"
)

// TestEpoll runs the WebSocket tests again with Config.EpollReads: the same
// behaviour, read by the epoll reader instead of a goroutine per connection.
func TestEpoll(t *testing.T) {
	epollTests = true
	t.Cleanup(func() { epollTests = false })
	for name, test := range map[string]func(*testing.T){
		"WebSocketOnly":                  TestWebSocketOnly,
		"WebSocketParseErrorAndTooLarge": TestWebSocketParseErrorAndTooLarge,
		"PingTimeout":                    TestPingTimeout,
		"Upgrade":                        TestUpgrade,
		"UpgradeAbortedByBadPacket":      TestUpgradeAbortedByBadPacket,
		"SlowConsumer":                   TestSlowConsumer,
		"Shutdown":                       TestShutdown,
		"ShutdownDuringHandshakes":       TestShutdownDuringHandshakes,
		"HandlerPanic":                   TestHandlerPanic,
	} {
		t.Run(name, test)
	}
}

// TestEpollIdleCostsNoGoroutine: with EpollReads, open sessions that say nothing
// hold no goroutine; they still echo, answer pings and notice a client's close.
func TestEpollIdleCostsNoGoroutine(t *testing.T) {
	srv, h, base := startServer(t, Config{EpollReads: true})
	before := runtime.NumGoroutine()
	const n = 50
	conns := make([]*testclient.Conn, n)
	for i := range conns {
		conns[i] = testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket", testclient.Options{})
		conns[i].Expect(t, "0{*")
	}
	testclient.WaitFor(t, func() bool { return srv.Count() == n })
	// Each test client has its own read goroutine; the server side adds none per
	// connection (the epoll loop and the write pool's transient workers at most).
	if extra := runtime.NumGoroutine() - before - n; extra > 5 {
		t.Fatalf("%d goroutines beyond the clients' own for %d idle sessions", extra, n)
	}
	for i, c := range conns {
		msg := "4hello " + strings.Repeat("x", i)
		c.SendText(t, msg)
		c.Expect(t, msg)
	}
	conns[0].Ping(t, "still there?")
	conns[1].Close()
	if r := h.waitClose(t); r != ReasonTransportClose {
		t.Fatalf("client close: reason %v", r)
	}
}

// TestEpollFragmentsAndLargeMessages: a fragmented message and one larger than the
// reader's 16 KB buffer arrive whole.
func TestEpollFragmentsAndLargeMessages(t *testing.T) {
	_, _, base := startServer(t, Config{EpollReads: true})
	c := testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket", testclient.Options{})
	c.Expect(t, "0{*")
	big := "4" + strings.Repeat("y", 100_000)
	c.SendText(t, big)
	if got := c.NextText(t); got != big {
		t.Fatalf("large message: got %d bytes, want %d", len(got), len(big))
	}
	c.SendFragments(t, "4frag", "mented ", "message")
	c.Expect(t, "4fragmented message")
}

// TestEpollHandshake: Herald answers the upgrade itself for the epoll reader: a bad
// version is refused with 400; a client that sends a frame right behind its request
// (before the answer) is handed to gws with those bytes and is still served; a
// normal client gets RFC 6455's accept key, with the open packet of its session in
// the same write.
func TestEpollHandshake(t *testing.T) {
	srv, _, base := startServer(t, Config{EpollReads: true})
	addr := strings.TrimPrefix(base, "http://")
	req := func(version string) string {
		return "GET /?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\n" +
			"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
			"Sec-WebSocket-Version: " + version + "\r\n\r\n"
	}
	dial := func(payload string) (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(payload)); err != nil {
			t.Fatal(err)
		}
		return c, bufio.NewReader(c)
	}
	_, br := dial(req("12"))
	if status, _ := br.ReadString('\n'); !strings.Contains(status, " 400 ") {
		t.Fatalf("version 12: %q, want 400", status)
	}
	// The RFC's own example key and answer (RFC 6455 §1.3), and the open packet behind
	// it in the same write: the client's socket has received one data segment.
	c, br := dial(req("13"))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %v %+v", err, resp)
	}
	open := make([]byte, 2)
	if _, err := io.ReadFull(br, open); err != nil || open[0] != 0x81 {
		t.Fatalf("after the answer: %q, %v; want a text frame", open, err)
	}
	open = make([]byte, open[1])
	var op openPacket
	if _, err := io.ReadFull(br, open); err != nil || open[0] != '0' || json.Unmarshal(open[1:], &op) != nil || srv.Session(op.SID) == nil {
		t.Fatalf("first frame %q (%v), want the open packet of a live session", open, err)
	}
	if segs := dataSegmentsIn(t, c); segs != 1 {
		t.Fatalf("the answer and the open packet came in %d segments, want 1 (one write)", segs)
	}
	// A masked "4early" frame in the same write as the request.
	frame := []byte{0x81, 0x86, 1, 2, 3, 4}
	for i, b := range []byte("4early") {
		frame = append(frame, b^[]byte{1, 2, 3, 4}[i%4])
	}
	_, br = dial(req("13") + string(frame))
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade with an early frame: %v", err)
	}
	var got []string
	for len(got) < 2 { // the open packet, then the echo
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(br, hdr); err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		n := int(hdr[1] & 0x7f)
		if n == 126 {
			ext := make([]byte, 2)
			_, _ = io.ReadFull(br, ext)
			n = int(ext[0])<<8 | int(ext[1])
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		got = append(got, string(p))
	}
	if !strings.HasPrefix(got[0], "0{") || got[1] != "4early" {
		t.Fatalf("frames %q, want the open packet and the echo of the early message", got)
	}
}

// dataSegmentsIn returns the number of data segments c's socket has received.
func dataSegmentsIn(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	if err := rc.Control(func(fd uintptr) { info, err = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || info == nil {
		t.Fatalf("TCP_INFO: %v", err)
	}
	return info.Data_segs_in
}

// TestEpollUpgrade: a polling session upgraded to WebSocket (socket.io-client's
// default path) is read by the epoll reader too, and an upgrade that never completes
// is given up after UpgradeTimeout without ending the polling session.
func TestEpollUpgrade(t *testing.T) {
	srv, _, base := startServer(t, Config{EpollReads: true, UpgradeTimeout: 200 * time.Millisecond})
	op := handshake(t, base)
	u := base + "/?EIO=4&transport=polling&sid=" + op.SID
	c := testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket&sid="+op.SID, testclient.Options{})
	c.SendText(t, "2probe")
	c.Expect(t, "3probe")
	c.Ping(t, "while probing") // answered on the probe, not queued for polling
	c.SendText(t, "5")
	testclient.WaitFor(t, func() bool { return srv.Session(op.SID).Transport() == TransportWebSocket })
	s := srv.Session(op.SID)
	s.mu.Lock()
	id := s.pollID
	s.mu.Unlock()
	if id == 0 {
		t.Fatal("the upgraded session is not read by the epoll reader")
	}
	c.SendText(t, "4after upgrade")
	c.Expect(t, "4after upgrade")

	// A probe that never sends "5": closed after UpgradeTimeout, polling goes on.
	op = handshake(t, base)
	u = base + "/?EIO=4&transport=polling&sid=" + op.SID
	stalled := testclient.Dial(t, wsURL(base)+"/?EIO=4&transport=websocket&sid="+op.SID, testclient.Options{})
	stalled.SendText(t, "2probe")
	stalled.Expect(t, "3probe")
	stalled.Closed(t, 5*time.Second)
	if got := srv.Session(op.SID); got == nil || got.Transport() != TransportPolling {
		t.Fatal("the polling session should survive an upgrade that timed out")
	}
	post(t, u, "4still polling")
	if _, b := get(t, u); b != "4still polling" {
		t.Fatalf("poll after the timed-out upgrade got %q", b)
	}
}
