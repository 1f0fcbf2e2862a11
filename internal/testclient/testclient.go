// Package testclient is a minimal WebSocket client for Herald's Go tests: it sends and
// receives raw frames so tests can speak Engine.IO, Socket.IO or the plain envelope
// byte for byte. It is not a Socket.IO client library.
package testclient

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// Message is one received WebSocket message.
type Message struct {
	Data   []byte
	Binary bool
}

// Conn is a test WebSocket connection. Received messages queue up without bound
// unless the Conn was dialled with Paused, in which case nothing is read at all.
type Conn struct {
	ws       *gws.Conn
	msgs     chan Message
	pongs    chan []byte
	done     chan struct{}
	mu       sync.Mutex
	closeErr error
}

// Options for Dial.
type Options struct {
	// Paused: do not read from the socket at all (a slow consumer).
	Paused bool
	// Header adds request headers.
	Header map[string]string
	// RecvBuffer, when set, fixes the socket's kernel receive buffer (SO_RCVBUF) so a
	// paused client fills up after little data.
	RecvBuffer int
}

type handler struct {
	gws.BuiltinEventHandler
	c *Conn
}

func (h *handler) OnMessage(_ *gws.Conn, m *gws.Message) {
	defer m.Close()
	h.c.msgs <- Message{Data: bytes.Clone(m.Bytes()), Binary: m.Opcode == gws.OpcodeBinary}
}

func (h *handler) OnPong(_ *gws.Conn, payload []byte) {
	select {
	case h.c.pongs <- bytes.Clone(payload):
	default: // nobody is counting pongs
	}
}

func (h *handler) OnClose(_ *gws.Conn, err error) {
	h.c.mu.Lock()
	h.c.closeErr = err
	h.c.mu.Unlock()
	close(h.c.done)
}

// Dial connects to a ws:// URL. The connection is closed when the test ends.
func Dial(t testing.TB, url string, opt Options) *Conn {
	t.Helper()
	c := &Conn{msgs: make(chan Message, 1<<16), pongs: make(chan []byte, 16), done: make(chan struct{})}
	hdr := make(map[string][]string)
	for k, v := range opt.Header {
		hdr[k] = []string{v}
	}
	ws, _, err := gws.NewClient(&handler{c: c}, &gws.ClientOption{Addr: url, RequestHeader: hdr})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.ws = ws
	if opt.RecvBuffer > 0 {
		if tc, ok := ws.NetConn().(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(opt.RecvBuffer)
		}
	}
	if !opt.Paused {
		go ws.ReadLoop()
	} else {
		close(c.done) // never read: the Conn reports closed only through its socket
	}
	t.Cleanup(func() {
		_ = ws.NetConn().Close()
		if !opt.Paused {
			<-c.done
		}
	})
	return c
}

// Ping sends a WebSocket ping with payload and waits for the pong carrying it.
func (c *Conn) Ping(t testing.TB, payload string) {
	t.Helper()
	if err := c.ws.WritePing([]byte(payload)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	select {
	case p := <-c.pongs:
		if string(p) != payload {
			t.Fatalf("pong %q, want %q", p, payload)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
}

// SendFragments sends one text message split into the given fragments (a text frame
// without FIN, continuation frames, the last with FIN), masked as a client must.
func (c *Conn) SendFragments(t testing.TB, parts ...string) {
	t.Helper()
	var out []byte
	for i, part := range parts {
		op := byte(0x0) // continuation
		if i == 0 {
			op = 0x1
		}
		if i == len(parts)-1 {
			op |= 0x80
		}
		if len(part) > 125 {
			t.Fatal("SendFragments: parts must be ≤ 125 bytes")
		}
		key := [4]byte{0x12, 0x34, 0x56, 0x78}
		out = append(out, op, 0x80|byte(len(part)), key[0], key[1], key[2], key[3])
		for j := 0; j < len(part); j++ {
			out = append(out, part[j]^key[j%4])
		}
	}
	if _, err := c.ws.NetConn().Write(out); err != nil {
		t.Fatalf("send fragments: %v", err)
	}
}

// SendText sends a text message.
func (c *Conn) SendText(t testing.TB, s string) {
	t.Helper()
	if err := c.ws.WriteString(s); err != nil {
		t.Fatalf("send %q: %v", s, err)
	}
}

// SendBinary sends a binary message.
func (c *Conn) SendBinary(t testing.TB, b []byte) {
	t.Helper()
	if err := c.ws.WriteMessage(gws.OpcodeBinary, b); err != nil {
		t.Fatalf("send binary: %v", err)
	}
}

// Next returns the next message, failing the test after timeout.
func (c *Conn) Next(t testing.TB, timeout time.Duration) Message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(timeout):
		t.Fatalf("no message within %v", timeout)
	}
	return Message{}
}

// NextText returns the next text message, skipping Engine.IO pings ("2") and answering
// them with pongs.
func (c *Conn) NextText(t testing.TB) string {
	t.Helper()
	for {
		m := c.Next(t, 5*time.Second)
		if m.Binary {
			t.Fatalf("want text, got binary %x", m.Data)
		}
		if string(m.Data) == "2" {
			c.SendText(t, "3")
			continue
		}
		return string(m.Data)
	}
}

// Expect reads the next text message and fails unless it equals want, or, when want
// ends with "*", starts with the rest.
func (c *Conn) Expect(t testing.TB, want string) string {
	t.Helper()
	got := c.NextText(t)
	if prefix, ok := strings.CutSuffix(want, "*"); ok {
		if !strings.HasPrefix(got, prefix) {
			t.Fatalf("got %q, want prefix %q", got, prefix)
		}
		return got
	}
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	return got
}

// Closed waits for the server to close the connection and returns gws's close error
// (a *gws.CloseError carries the code and reason).
func (c *Conn) Closed(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.closeErr
	case <-time.After(timeout):
		t.Fatalf("connection still open after %v", timeout)
	}
	return nil
}

// CloseCode returns the close code and reason of a closed connection's error.
func CloseCode(err error) (uint16, string, error) {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return ce.Code, string(ce.Reason), nil
	}
	return 0, "", fmt.Errorf("not a close frame: %v", err)
}

// Close closes the connection from the client side.
func (c *Conn) Close() { _ = c.ws.WriteClose(1000, nil) }

// WaitFor polls cond every millisecond until it holds, failing the test after 5s. Use
// it only for states that have no event to wait on.
func WaitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Messages exposes the queue of received messages, for tests that wait on a message
// and something else at once.
func (c *Conn) Messages() <-chan Message { return c.msgs }
