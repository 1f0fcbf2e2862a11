package socketio

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// BenchmarkEncodeEvent measures encoding one event into its Socket.IO frame (what a
// broadcast does once, whatever the audience).
func BenchmarkEncodeEvent(b *testing.B) {
	payload := map[string]any{"user": "42", "text": strings.Repeat("x", 64), "n": 7}
	b.ReportAllocs()
	for b.Loop() {
		enc, err := encodeArgs([]any{payload})
		if err != nil {
			b.Fatal(err)
		}
		m := &message{kind: PacketEvent, nsp: "/", event: "chat", args: enc}
		_ = m.sioFrames()
	}
}

// BenchmarkEncodeEventRaw is the same with a pre-encoded JSON argument, as the bus and
// the HTTP API hand them over.
func BenchmarkEncodeEventRaw(b *testing.B) {
	raw := []byte(`{"user":"42","text":"` + strings.Repeat("x", 64) + `","n":7}`)
	b.ReportAllocs()
	for b.Loop() {
		enc, _ := encodeArgs([]any{json.RawMessage(raw)})
		m := &message{kind: PacketEvent, nsp: "/", event: "chat", args: enc}
		_ = m.sioFrames()
	}
}

// BenchmarkBroadcast fans one 100-byte event out to N connected sockets: real
// Engine.IO WebSocket sessions over in-memory connections whose writes are counted
// and discarded, so the figure covers encoding, the room index, the per-socket queues
// and the writers (frame writes included), without the kernel. The timer stops only
// once every frame has been written.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			srv, err := New(Config{})
			if err != nil {
				b.Fatal(err)
			}
			var written atomic.Int64
			conns := make([]*discardConn, n)
			for i := range conns {
				conns[i] = newDiscardConn(&written, maskedText("40"))
				req, _ := http.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket", nil)
				req.Header.Set("Connection", "Upgrade")
				req.Header.Set("Upgrade", "websocket")
				req.Header.Set("Sec-WebSocket-Version", "13")
				req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
				if err := srv.Engine().ServeConn(conns[i], bufio.NewReaderSize(conns[i], 512), req); err != nil {
					b.Fatal(err)
				}
			}
			nsp := srv.Of("/")
			for nsp.Count() < n {
				time.Sleep(time.Millisecond)
			}
			payload := strings.Repeat("x", 100)
			frame := (&message{kind: PacketEvent, nsp: "/", event: "bench", args: mustEncode(payload)}).sioFrames()[0]
			waitWritten := func(target int64) {
				for written.Load() < target {
					time.Sleep(50 * time.Microsecond)
				}
			}
			// Let the handshake writes settle before measuring.
			time.Sleep(50 * time.Millisecond)
			base := written.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := nsp.Emit("bench", payload); err != nil {
					b.Fatal(err)
				}
			}
			waitWritten(base + int64(b.N)*int64(n)*int64(frame.Len()))
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
			_ = srv.Close()
		})
	}
}

func mustEncode(args ...any) encodedArgs {
	e, err := encodeArgs(args)
	if err != nil {
		panic(err)
	}
	return e
}

// maskedText builds a client→server (masked) WebSocket text frame.
func maskedText(s string) []byte {
	key := [4]byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | byte(len(s)), key[0], key[1], key[2], key[3]}
	for i := 0; i < len(s); i++ {
		f = append(f, s[i]^key[i%4])
	}
	return f
}

// discardConn is an in-memory net.Conn: reads return preset bytes, then block until
// Close; writes are counted and discarded.
type discardConn struct {
	written *atomic.Int64
	in      []byte
	mu      sync.Mutex
	closed  chan struct{}
	once    sync.Once
}

func newDiscardConn(written *atomic.Int64, in []byte) *discardConn {
	return &discardConn{written: written, in: in, closed: make(chan struct{})}
}

func (c *discardConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.in) > 0 {
		n := copy(p, c.in)
		c.in = c.in[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	<-c.closed
	return 0, net.ErrClosed
}

func (c *discardConn) Write(p []byte) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	// Count only WebSocket frames, not the HTTP 101 response.
	if len(p) > 0 && p[0] != 'H' {
		c.written.Add(int64(len(p)))
	}
	return len(p), nil
}

func (c *discardConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *discardConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *discardConn) SetDeadline(time.Time) error      { return nil }
func (c *discardConn) SetReadDeadline(time.Time) error  { return nil }
func (c *discardConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkBroadcastTCP is BenchmarkBroadcast over real loopback TCP: N WebSocket
// clients in this process read and count the bytes (no frame parsing, no allocation),
// so the figures include the kernel and the server's write pool, and allocs/op
// divided by N is the allocation per delivery of the whole path (both ends). Run it
// with -benchtime 2000x (see the wait below).
func BenchmarkBroadcastTCP(b *testing.B) {
	for _, n := range []int{1000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			srv, err := New(Config{})
			if err != nil {
				b.Fatal(err)
			}
			ts := httptest.NewServer(srv)
			url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/?EIO=4&transport=websocket"
			var received atomic.Int64
			var readers sync.WaitGroup
			ready := make(chan struct{}, n)
			var conns []net.Conn
			for range n {
				c, _, err := gws.NewClient(new(gws.BuiltinEventHandler), &gws.ClientOption{Addr: url})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.WriteString("40"); err != nil {
					b.Fatal(err)
				}
				nc := c.NetConn()
				conns = append(conns, nc)
				readers.Add(1)
				go func() {
					defer readers.Done()
					buf := make([]byte, 64<<10)
					var head []byte // the first bytes, until the CONNECT ack is in them
					seen := false
					for {
						k, err := nc.Read(buf)
						received.Add(int64(k))
						if !seen {
							head = append(head, buf[:k]...)
							if seen = bytes.Contains(head, []byte(`40{"sid":"`)); seen {
								ready <- struct{}{}
							}
						}
						if err != nil {
							return
						}
					}
				}()
			}
			for range n {
				<-ready
			}
			nsp := srv.Of("/")
			payload := strings.Repeat("x", 100)
			frame := (&message{kind: PacketEvent, nsp: "/", event: "bench", args: mustEncode(payload)}).sioFrames()[0]
			base := received.Load()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := nsp.Emit("bench", payload); err != nil {
					b.Fatal(err)
				}
			}
			target := base + int64(b.N)*int64(n)*int64(frame.Len())
			// Emits outrun the writes, so the queues fill: at -benchtime beyond a few
			// thousand broadcasts they overflow (1 MiB each) and sockets are dropped as
			// slow consumers. Run it with -benchtime 2000x; fail instead of hanging.
			last, stalled := received.Load(), time.Now()
			for got := last; got < target; got = received.Load() {
				if got != last {
					last, stalled = got, time.Now()
				} else if time.Since(stalled) > 10*time.Second {
					b.Fatalf("stalled at %d of %d bytes: %d sockets left (slow consumers dropped?)", got-base, target-base, nsp.Count())
				}
				runtime.Gosched()
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/delivery")
			for _, nc := range conns {
				_ = nc.Close()
			}
			readers.Wait()
			_ = srv.Close()
			ts.Close()
		})
	}
}
