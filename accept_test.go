package herald

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/engineio"
	"github.com/heraldhq/herald/internal/testclient"
	"github.com/heraldhq/herald/internal/wsframe"
	"github.com/heraldhq/herald/socketio"
)

// startCounted serves a node and counts the connections net/http is given.
func startCounted(t *testing.T, cfg Config) (n *Node, addr string, viaHTTP *atomic.Int32) {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.IO().Of("/").On("echo", func(s *socketio.Socket, ev *socketio.Event) { _ = ev.Ack(ev.Args) })
	viaHTTP = new(atomic.Int32)
	n.http.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			viaHTTP.Add(1)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- n.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return n, ln.Addr().String(), viaHTTP
}

// rawDial connects and writes the given pieces one by one.
func rawDial(t *testing.T, addr string, pieces ...string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, p := range pieces {
		if _, err := io.WriteString(c, p); err != nil {
			t.Fatal(err)
		}
	}
	return c, bufio.NewReader(c)
}

func upgradeRequest(addr, target, extra string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
}

// readFrame reads one unmasked server frame with a payload under 64 KB.
func readFrame(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		t.Fatal(err)
	}
	n := int(hdr[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		_, _ = io.ReadFull(br, ext[:])
		n = int(ext[0])<<8 | int(ext[1])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	return string(p)
}

// masked returns a masked client text frame.
func masked(payload string) string {
	return string(wsframe.AppendMaskedFrame(nil, wsframe.OpText, payload, [4]byte{7, 1, 9, 3}))
}

// TestAcceptorServesHandshakesDirectly: a WebSocket handshake that opens a new
// Engine.IO session never reaches net/http, whether its head comes in one piece or
// several, with frames behind it or not, on the epoll reader or gws's; everything
// else (polling, other routes, the plain endpoint, upgrades of polling sessions, a
// head too long to sniff, a refused handshake) is served as before.
func TestAcceptorServesHandshakesDirectly(t *testing.T) {
	for _, epoll := range []bool{true, false} {
		t.Run(map[bool]string{true: "epoll", false: "gws"}[epoll], func(t *testing.T) {
			_, addr, viaHTTP := startCounted(t, Config{Engine: engineio.Config{EpollReads: epoll}})
			req := upgradeRequest(addr, "/socket.io/?EIO=4&transport=websocket", "")

			// One piece, then a Socket.IO CONNECT and an event with an ack.
			c, br := rawDial(t, addr, req)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
				t.Fatalf("upgrade: %v %+v", err, resp)
			}
			if f := readFrame(t, br); !strings.HasPrefix(f, `0{"sid":`) {
				t.Fatalf("first frame %q, want the open packet", f)
			}
			_, _ = io.WriteString(c, masked("40")+masked(`421["echo","hi"]`))
			if f := readFrame(t, br); !strings.HasPrefix(f, `40{"sid":`) {
				t.Fatalf("CONNECT answered with %q", f)
			}
			if f := readFrame(t, br); f != `431["hi"]` {
				t.Fatalf("ack %q, want 431[\"hi\"]", f)
			}

			// The head in three pieces; then a head with the CONNECT right behind it.
			_, br = rawDial(t, addr, req[:7], req[7:40], req[40:])
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
				t.Fatalf("split head: %v", err)
			}
			if f := readFrame(t, br); !strings.HasPrefix(f, "0{") {
				t.Fatalf("split head: first frame %q", f)
			}
			_, br = rawDial(t, addr, req+masked("40"))
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
				t.Fatalf("early frame: %v", err)
			}
			if f, g := readFrame(t, br), readFrame(t, br); !strings.HasPrefix(f, "0{") || !strings.HasPrefix(g, "40{") {
				t.Fatalf("early CONNECT: frames %q, %q", f, g)
			}

			// An unsupported protocol version is refused as engine.io refuses it.
			_, br = rawDial(t, addr, upgradeRequest(addr, "/socket.io/?EIO=3&transport=websocket", ""))
			resp, err = http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 400 {
				t.Fatalf("EIO=3: %v %+v", err, resp)
			}
			if b, _ := io.ReadAll(resp.Body); string(b) != `{"code":5,"message":"Unsupported protocol version"}` {
				t.Fatalf("EIO=3 body %q", b)
			}
			if n := viaHTTP.Load(); n != 0 {
				t.Fatalf("net/http was given %d of the new-session handshakes", n)
			}

			// The rest goes to net/http.
			huge := upgradeRequest(addr, "/socket.io/?EIO=4&transport=websocket", "Cookie: "+strings.Repeat("c", headSize)+"\r\n")
			_, br = rawDial(t, addr, huge)
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 101 {
				t.Fatalf("long head: %v", err)
			}
			if f := readFrame(t, br); !strings.HasPrefix(f, "0{") {
				t.Fatalf("long head: first frame %q", f)
			}
			// A path net/http would clean gets net/http's redirect, not a session.
			_, br = rawDial(t, addr, upgradeRequest(addr, "/socket.io?EIO=4&transport=websocket", ""))
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode/100 != 3 || resp.Header.Get("Location") == "" {
				t.Fatalf("/socket.io without the slash: %v %+v, want net/http's redirect", err, resp)
			}
			plain := testclient.Dial(t, "ws://"+addr+"/ws", testclient.Options{})
			plain.SendText(t, `{"event":"echo","data":"hi"}`)
			plain.Expect(t, `{"event":"echo","data":"hi"}`)
			for path, want := range map[string]int{"/healthz": 200, "/socket.io/?EIO=4&transport=polling": 200, "/nowhere": 404} {
				resp, err := http.Get("http://" + addr + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
				}
			}
			_, br = rawDial(t, addr, "\x16\x03\x01 not HTTP\r\n\r\n")
			if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 400 {
				t.Fatalf("not HTTP: %v %+v, want net/http's 400", err, resp)
			}
			if n := viaHTTP.Load(); n != 7 {
				t.Fatalf("net/http was given %d connections, want 7", n)
			}
		})
	}
}

// TestAcceptorShutdown: Shutdown closes the connections whose head is still coming
// instead of waiting for them.
func TestAcceptorShutdown(t *testing.T) {
	n, addr, _ := startCounted(t, Config{})
	silent, _ := rawDial(t, addr)
	half, _ := rawDial(t, addr, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n")
	// Wait until the acceptor holds both (Shutdown must find them to close them).
	testclient.WaitFor(t, func() bool {
		a := n.acceptor.Load()
		if a == nil {
			return false
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.reading) == 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown took %v with two heads unfinished", d)
	}
	for _, c := range []net.Conn{silent, half} {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection with an unfinished head is still open after Shutdown")
		}
	}
}

// TestAcceptorHeadTimeout: a connection that sends nothing, or half a head, is closed
// after the header timeout; one that closes first costs nothing more.
func TestAcceptorHeadTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := newAcceptor(ln, 100*time.Millisecond, slog.New(slog.DiscardHandler),
		func(*http.Request) bool { return true },
		func(c net.Conn, _ *bufio.Reader, _ *http.Request) error { return c.Close() })
	defer a.Close()
	addr := ln.Addr().String()
	silent, _ := rawDial(t, addr)
	half, _ := rawDial(t, addr, "GET / HTTP/1.1\r\n")
	gone, _ := rawDial(t, addr, "GET / HT")
	gone.Close()
	for _, c := range []net.Conn{silent, half} {
		if n, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read %d, %v; want EOF once the header timeout passes", n, err)
		}
	}
	testclient.WaitFor(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.reading) == 0
	})
}

// TestAcceptorOnlyOnPlainSockets: a wrapping listener (TLS, limits) is served by
// net/http alone.
func TestAcceptorOnlyOnPlainSockets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !plainSockets(ln) {
		t.Fatal("a TCP listener should get the acceptor")
	}
	if plainSockets(struct{ net.Listener }{ln}) {
		t.Fatal("a wrapping listener should go to net/http untouched")
	}
}
