package engineio

import (
	"runtime"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testclient"
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
