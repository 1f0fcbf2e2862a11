//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/internal/wsframe"
)

// The epoll path against a raw TCP server that does the upgrade by hand and then
// writes exactly the bytes a test wants, when it wants.

const openPacket = `0{"sid":"eio","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`

// rawServer accepts connections and runs serve on each, after reading and checking
// the upgrade request; the connection is closed when serve returns.
type rawServer struct {
	t     *testing.T
	ln    net.Listener
	wg    sync.WaitGroup
	wsURL string
}

func newRawServer(t *testing.T, serve func(p *rawPeer)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{t: t, ln: ln, wsURL: "ws://" + ln.Addr().String() + "/socket.io/?EIO=4&transport=websocket"}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // a broken test fails, not hangs
				p := &rawPeer{t: t, conn: conn, br: bufio.NewReader(conn)}
				if p.readRequest() {
					serve(p)
				}
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

// close stops the server and waits for its goroutines.
func (s *rawServer) close() {
	_ = s.ln.Close()
	s.wg.Wait()
}

// rawPeer is the server's end of one connection.
type rawPeer struct {
	t      *testing.T
	conn   net.Conn
	br     *bufio.Reader
	accept string         // the Sec-WebSocket-Accept for the request's key
	parser wsframe.Parser // a server's: the client's frames must be masked
	queue  []frameMsg
}

type frameMsg struct {
	op      wsframe.Opcode
	payload string
}

// readRequest reads the upgrade request and checks what RFC 6455 section 4.1 asks
// of a client.
func (p *rawPeer) readRequest() bool {
	req, err := http.ReadRequest(p.br)
	if err != nil {
		p.t.Errorf("upgrade request: %v", err)
		return false
	}
	h := req.Header
	key := h.Get("Sec-WebSocket-Key")
	uri := req.URL.RequestURI()
	if req.Method != http.MethodGet || uri != "/socket.io/?EIO=4&transport=websocket" && uri != "/ws" || req.Host == "" ||
		!strings.EqualFold(h.Get("Upgrade"), "websocket") || !hasToken(h.Values("Connection"), "upgrade") ||
		h.Get("Sec-WebSocket-Version") != "13" || len(key) != 24 {
		p.t.Errorf("upgrade request %s %s host %q headers %v", req.Method, req.URL, req.Host, h)
		return false
	}
	p.accept = acceptKey(key)
	return true
}

// response is the 101 answer to the request.
func (p *rawPeer) response() []byte {
	return []byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + p.accept + "\r\n\r\n")
}

func (p *rawPeer) write(b []byte) {
	if _, err := p.conn.Write(b); err != nil {
		p.t.Errorf("server write: %v", err)
	}
}

// next returns the client's next message or control frame; io.EOF once the client
// has closed the connection.
func (p *rawPeer) next() (frameMsg, error) {
	buf := make([]byte, 4096)
	for len(p.queue) == 0 {
		n, err := p.br.Read(buf)
		if err != nil {
			return frameMsg{}, err
		}
		if err := p.parser.Feed(buf[:n], func(op wsframe.Opcode, payload []byte) bool {
			p.queue = append(p.queue, frameMsg{op, string(payload)})
			return true
		}); err != nil {
			return frameMsg{}, err
		}
	}
	m := p.queue[0]
	p.queue = p.queue[1:]
	return m, nil
}

// expect reads the next frame and checks it.
func (p *rawPeer) expect(op wsframe.Opcode, payload string) bool {
	m, err := p.next()
	if err != nil || m.op != op || m.payload != payload {
		p.t.Errorf("client sent %v %q (%v), want %v %q", m.op, m.payload, err, op, payload)
		return false
	}
	return true
}

// expectEOF checks that the client closed the connection.
func (p *rawPeer) expectEOF() {
	if m, err := p.next(); !errors.Is(err, io.EOF) {
		p.t.Errorf("client sent %v %q (%v), want the end of the connection", m.op, m.payload, err)
	}
}

// handshake answers the upgrade (the open packet in the same write as the 101) and
// the CONNECT.
func (p *rawPeer) handshake() bool {
	p.write(append(p.response(), serverFrame(wsframe.OpText, openPacket)...))
	if !p.expect(wsframe.OpText, "40") {
		return false
	}
	p.write(serverFrame(wsframe.OpText, `40{"sid":"s1"}`))
	return true
}

// serverFrame encodes one unmasked final frame.
func serverFrame(op wsframe.Opcode, payload string) []byte {
	b := []byte{0x80 | byte(op)}
	switch n := len(payload); {
	case n > 0xFFFF:
		b = binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	case n > 125:
		b = binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		b = append(b, byte(n))
	}
	return append(b, payload...)
}

func closePayload(code uint16) string { return string(binary.BigEndian.AppendUint16(nil, code)) }

// epollDialer is a Dialer on the epoll path whose events go to the returned channel.
func epollDialer() (*Dialer, chan string) {
	events := make(chan string, 16)
	d := &Dialer{Epoll: true, HandshakeTimeout: 5 * time.Second,
		OnEvent: func(_ *Client, data []byte) { events <- string(data) }}
	return d, events
}

func dial(t *testing.T, d *Dialer, s *rawServer) *Client {
	t.Helper()
	c, err := d.Dial(context.Background(), s.wsURL)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if _, ok := c.conn.(*epollConn); !ok || c.SID() != "s1" || !c.Connected() {
		t.Fatalf("conn %T, sid %q, connected %v", c.conn, c.SID(), c.Connected())
	}
	return c
}

// waitEvent returns the next event's data.
func waitEvent(t *testing.T, events <-chan string) string {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return ""
	}
}

// waitDone waits until c's connection has ended.
func waitDone(t *testing.T, c *Client) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not end")
	}
}

// waitDialer waits for d's pollers, checks they are gone, stops s, and checks that
// no goroutine is left.
func waitDialer(t *testing.T, d *Dialer, s *rawServer) {
	t.Helper()
	done := make(chan struct{})
	go func() { d.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Dialer.Wait did not return")
	}
	d.ep.mu.Lock()
	pollers, live := d.ep.pollers, d.ep.live
	d.ep.mu.Unlock()
	if pollers != nil || live != 0 {
		t.Errorf("after Wait: %d pollers, %d live connections", len(pollers), live)
	}
	s.close()
	goleak.VerifyNone(t)
}

// The open packet comes in the same read as the 101: the client must handle it from
// what the response reader buffered, or it never sends CONNECT.
func TestEpollOpenWithResponse(t *testing.T) {
	d, events := epollDialer()
	s := newRawServer(t, func(p *rawPeer) {
		// Also an event and an Engine.IO ping behind the open packet, all in one write:
		// they are handled before the CONNECT is even sent.
		p.write(append(append(append(p.response(), serverFrame(wsframe.OpText, openPacket)...),
			serverFrame(wsframe.OpPing, "early")...), serverFrame(wsframe.OpText, "2")...))
		if !p.expect(wsframe.OpText, "40") || !p.expect(wsframe.OpPong, "early") || !p.expect(wsframe.OpText, "3") {
			return
		}
		p.write(append(serverFrame(wsframe.OpText, `40{"sid":"s1"}`), serverFrame(wsframe.OpText, `42["hello",1]`)...))
		p.expect(wsframe.OpClose, closePayload(1000))
		p.expectEOF()
	})
	c := dial(t, d, s)
	if e := waitEvent(t, events); e != `["hello",1]` {
		t.Errorf("event %q", e)
	}
	c.Close()
	waitDialer(t, d, s)
	if d.Stats.Pings.Load() != 1 || d.Stats.Events.Load() != 1 || d.Stats.Disconnects.Load() != 0 {
		t.Errorf("pings %d events %d disconnects %d", d.Stats.Pings.Load(), d.Stats.Events.Load(), d.Stats.Disconnects.Load())
	}
}

// Frames cut anywhere, the headers too, across reads: the server writes a byte at
// a time (with a pause, so that most bytes come in reads of their own).
func TestEpollFrameSplitAcrossReads(t *testing.T) {
	d, events := epollDialer()
	const ev1, ev2 = `42["split",{"n":1}]`, `42["split",{"n":2}]`
	long := `42["long","` + strings.Repeat("y", 300) + `"]` // a 16-bit length
	s := newRawServer(t, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		all := append(append(serverFrame(wsframe.OpText, ev1), serverFrame(wsframe.OpText, long)...), serverFrame(wsframe.OpText, ev2)...)
		for i := range all {
			p.write(all[i : i+1])
			if i < 40 || i%50 == 0 {
				time.Sleep(200 * time.Microsecond) // pacing, not synchronisation
			}
		}
		p.expect(wsframe.OpClose, closePayload(1000))
	})
	c := dial(t, d, s)
	for _, want := range []string{ev1[2:], long[2:], ev2[2:]} {
		if e := waitEvent(t, events); e != want {
			t.Errorf("event %.40q, want %.40q", e, want)
		}
	}
	c.Close()
	waitDialer(t, d, s)
}

// A message bigger than a poller's 64 KiB read buffer, then a small one.
func TestEpollMessageBiggerThanBuffer(t *testing.T) {
	d, events := epollDialer()
	big := `["big","` + strings.Repeat("z", 3*pollReadBuffer+123) + `"]`
	s := newRawServer(t, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		p.write(append(serverFrame(wsframe.OpText, "42"+big), serverFrame(wsframe.OpText, `42["after"]`)...))
		p.expect(wsframe.OpClose, closePayload(1000))
	})
	c := dial(t, d, s)
	if e := waitEvent(t, events); e != big {
		t.Errorf("event of %d bytes, want %d", len(e), len(big))
	}
	if e := waitEvent(t, events); e != `["after"]` {
		t.Errorf("event %q", e)
	}
	c.Close()
	waitDialer(t, d, s)
}

// WebSocket pings get a pong with their payload, Engine.IO pings a "3"; while other
// goroutines emit on the same connection, every frame stays whole.
func TestEpollPingsAndConcurrentWrites(t *testing.T) {
	const writers, each, pings = 4, 100, 50
	s := newRawServer(t, func(p *rawPeer) {
		if !p.handshake() {
			return
		}
		for i := range pings {
			p.write(append(serverFrame(wsframe.OpPing, fmt.Sprint("hb", i)), serverFrame(wsframe.OpText, "2")...))
		}
		pongs, eio, emits := 0, 0, map[string]bool{}
		for pongs < pings || eio < pings || len(emits) < writers*each {
			m, err := p.next()
			switch {
			case err != nil:
				p.t.Errorf("after %d pongs, %d Engine.IO pongs, %d emits: %v", pongs, eio, len(emits), err)
				return
			case m.op == wsframe.OpPong && m.payload == fmt.Sprint("hb", pongs):
				pongs++
			case m.op == wsframe.OpText && m.payload == "3":
				eio++
			case m.op == wsframe.OpText && strings.HasPrefix(m.payload, `42["e",`) && !emits[m.payload]:
				emits[m.payload] = true
			default:
				p.t.Errorf("unexpected %v %q", m.op, m.payload)
				return
			}
		}
		p.write(serverFrame(wsframe.OpText, `42["done"]`)) // every answer is in: the client may close
		p.expect(wsframe.OpClose, closePayload(1000))
	})
	d, events := epollDialer()
	c := dial(t, d, s)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := c.Emit("e", w*each+i); err != nil {
					t.Errorf("Emit: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if e := waitEvent(t, events); e != `["done"]` {
		t.Errorf("event %q", e)
	}
	c.Close()
	waitDialer(t, d, s)
	if got := d.Stats.Pings.Load(); got != pings {
		t.Errorf("Stats.Pings %d, want %d", got, pings)
	}
}

// The server ends the connection, with a close frame or without: the client counts
// a disconnect, closes done, and its pollers stop.
func TestEpollServerCloses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(p *rawPeer)
	}{
		{"close frame", func(p *rawPeer) {
			p.write(serverFrame(wsframe.OpClose, closePayload(1001)+"going away"))
			p.expect(wsframe.OpClose, closePayload(1000))
			p.expectEOF()
		}},
		{"TCP close", func(*rawPeer) {}},
		{"Engine.IO close", func(p *rawPeer) {
			p.write(serverFrame(wsframe.OpText, "1"))
			p.expect(wsframe.OpClose, closePayload(1000))
			p.expectEOF()
		}},
		{"masked frame", func(p *rawPeer) { // a protocol error: close code 1002
			p.write(wsframe.AppendMaskedFrame(nil, wsframe.OpText, `42["x"]`, [4]byte{1, 2, 3, 4}))
			p.expect(wsframe.OpClose, closePayload(1002))
			p.expectEOF()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, events := epollDialer()
			s := newRawServer(t, func(p *rawPeer) {
				// The client checks it is connected before the server may end it.
				if p.handshake() && p.expect(wsframe.OpText, `42["go"]`) {
					tc.serve(p)
				}
			})
			c := dial(t, d, s)
			if err := c.Emit("go"); err != nil {
				t.Fatal(err)
			}
			waitDone(t, c)
			if c.Connected() || d.Stats.Disconnects.Load() != 1 || len(events) != 0 {
				t.Errorf("connected %v, disconnects %d, events %d", c.Connected(), d.Stats.Disconnects.Load(), len(events))
			}
			if err := c.Emit("late"); err == nil {
				t.Error("Emit after the end succeeded")
			}
			c.Close() // after the end: harmless
			waitDialer(t, d, s)
		})
	}
}

// Client.Close: the server gets the close frame, then the end of the connection,
// which the poller closed; Wait returns and a new Dial starts new pollers.
func TestEpollClientClose(t *testing.T) {
	d, _ := epollDialer()
	s := newRawServer(t, func(p *rawPeer) {
		if p.handshake() {
			p.expect(wsframe.OpClose, closePayload(1000))
			p.expectEOF()
		}
	})
	for round := range 2 {
		c := dial(t, d, s)
		c.Close()
		waitDone(t, c)
		d.Wait()
		if d.Stats.Disconnects.Load() != 0 {
			t.Errorf("round %d: a disconnect counted for our own close", round)
		}
	}
	waitDialer(t, d, s)
}

// Connections are spread over GOMAXPROCS pollers, round-robin, and a poller leaves
// once the last connection of the Dialer has ended, not before.
func TestEpollPollers(t *testing.T) {
	d, _ := epollDialer()
	s := newRawServer(t, func(p *rawPeer) {
		if p.handshake() {
			for { // until the close frame
				if m, err := p.next(); err != nil || m.op == wsframe.OpClose {
					return
				}
			}
		}
	})
	n := 2 * runtime.GOMAXPROCS(0)
	var clients []*Client
	for range n {
		clients = append(clients, dial(t, d, s))
	}
	d.ep.mu.Lock()
	pollers := d.ep.pollers
	d.ep.mu.Unlock()
	if len(pollers) != runtime.GOMAXPROCS(0) {
		t.Fatalf("%d pollers, want GOMAXPROCS %d", len(pollers), runtime.GOMAXPROCS(0))
	}
	for i, p := range pollers {
		p.mu.Lock()
		if len(p.conns) != 2 {
			t.Errorf("poller %d holds %d connections, want 2", i, len(p.conns))
		}
		p.mu.Unlock()
	}
	for _, c := range clients[1:] {
		c.Close()
		waitDone(t, c)
	}
	if err := clients[0].Emit("still", "here"); err != nil || !clients[0].Connected() {
		t.Errorf("the last connection: %v", err)
	}
	d.ep.mu.Lock()
	stillRunning := d.ep.pollers != nil
	d.ep.mu.Unlock()
	if !stillRunning {
		t.Error("pollers stopped with a connection left")
	}
	clients[0].Close()
	waitDialer(t, d, s)
}

// Upgrades that fail leave nothing behind: no poller starts.
func TestEpollUpgradeFails(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		serve      func(p *rawPeer)
	}{
		{"403", "HTTP 403", func(p *rawPeer) {
			p.write([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"))
		}},
		{"wrong accept", "Sec-WebSocket-Accept", func(p *rawPeer) {
			p.accept = acceptKey("something else")
			p.write(p.response())
		}},
		{"no upgrade header", "Upgrade: websocket", func(p *rawPeer) {
			p.write([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + p.accept + "\r\n\r\n"))
		}},
		{"silent", "deadline exceeded", func(p *rawPeer) {
			_, _ = p.next() // until the client gives up
		}},
		{"no CONNECT ack", "deadline exceeded", func(p *rawPeer) {
			p.write(append(p.response(), serverFrame(wsframe.OpText, openPacket)...))
			p.expect(wsframe.OpText, "40")
			p.expect(wsframe.OpClose, closePayload(1000)) // DialIndex gives up and closes
			p.expectEOF()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := epollDialer()
			d.HandshakeTimeout = 300 * time.Millisecond
			s := newRawServer(t, tc.serve)
			c, err := d.Dial(context.Background(), s.wsURL)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Dial = %v, %v; want an error with %q", c, err, tc.want)
			}
			waitDialer(t, d, s)
		})
	}
}

// The plain endpoint: open once the WebSocket is, and a message that came with the
// 101 is delivered.
func TestEpollPlainMessageWithResponse(t *testing.T) {
	d, events := epollDialer()
	d.Plain = true
	s := newRawServer(t, func(p *rawPeer) {
		p.write(append(p.response(), serverFrame(wsframe.OpText, `{"event":"hi","data":1}`)...))
		p.expect(wsframe.OpClose, closePayload(1000))
	})
	c, err := d.Dial(context.Background(), s.wsURL) // to /ws
	if err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, events); e != `{"event":"hi","data":1}` {
		t.Errorf("event %q", e)
	}
	c.Close()
	waitDialer(t, d, s)
}
