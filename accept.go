package herald

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// headSize is the most of a connection's first request the acceptor reads before it
// decides; a longer head goes to net/http (which allows up to 1 MB of headers).
const headSize = 4096

// acceptor is the listener net/http serves from in Node.Serve. Its own goroutine
// accepts from the real listener, and a short-lived goroutine per connection reads
// the first request's head: a WebSocket handshake that opens a new Engine.IO session
// (what direct says yes to) is served by engineio straight from the socket, without
// net/http's connection, response, hijack and background read; every other
// connection is handed to net/http with the bytes read so far, to be parsed again
// there. Connections that send nothing within the header timeout, or close first,
// are closed as net/http would.
type acceptor struct {
	ln      net.Listener
	direct  func(*http.Request) bool
	serve   func(net.Conn, *bufio.Reader, *http.Request) error
	timeout time.Duration
	log     *slog.Logger

	conns  chan net.Conn // for net/http's Accept
	stop   chan struct{} // closed by Close
	failed chan struct{} // closed when the accept loop ends on an error (err)
	err    error

	mu      sync.Mutex
	closing bool
	reading map[net.Conn]struct{} // connections whose head is being read
	wg      sync.WaitGroup        // the accept loop and the head readers

	closeOnce sync.Once
	heads     sync.Pool // *[]byte of headSize
	parsers   sync.Pool // *bufio.Reader
}

func newAcceptor(ln net.Listener, timeout time.Duration, log *slog.Logger,
	direct func(*http.Request) bool, serve func(net.Conn, *bufio.Reader, *http.Request) error) *acceptor {
	a := &acceptor{
		ln: ln, direct: direct, serve: serve, timeout: timeout, log: log,
		conns: make(chan net.Conn), stop: make(chan struct{}), failed: make(chan struct{}),
		reading: make(map[net.Conn]struct{}),
	}
	a.heads.New = func() any { b := make([]byte, headSize); return &b }
	a.parsers.New = func() any { return bufio.NewReaderSize(nil, headSize) }
	a.wg.Add(1)
	go a.loop()
	return a
}

// Accept returns the next connection for net/http.
func (a *acceptor) Accept() (net.Conn, error) {
	select {
	case c := <-a.conns:
		return c, nil
	case <-a.stop:
		return nil, net.ErrClosed
	case <-a.failed:
		return nil, a.err
	}
}

// Close stops accepting, closes the connections whose head is still being read, and
// waits for the acceptor's goroutines.
func (a *acceptor) Close() error {
	var err error
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closing = true
		for c := range a.reading {
			_ = c.Close()
		}
		a.mu.Unlock()
		close(a.stop)
		err = a.ln.Close()
		a.wg.Wait()
	})
	return err
}

func (a *acceptor) Addr() net.Addr { return a.ln.Addr() }

func (a *acceptor) loop() {
	defer a.wg.Done()
	var delay time.Duration
	for {
		c, err := a.ln.Accept()
		if err != nil {
			select {
			case <-a.stop:
				return
			default:
			}
			// Out of file descriptors and the like: wait and retry, as net/http does.
			if ne, ok := err.(net.Error); ok && ne.Temporary() { //nolint:staticcheck // net/http's own test
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				a.log.Warn("herald: accept failed; retrying", "err", err, "in", delay)
				select {
				case <-time.After(delay):
				case <-a.stop:
					return
				}
				continue
			}
			a.err = err
			close(a.failed)
			return
		}
		delay = 0
		a.mu.Lock()
		if a.closing {
			a.mu.Unlock()
			_ = c.Close()
			return
		}
		a.reading[c] = struct{}{}
		a.wg.Add(1)
		a.mu.Unlock()
		go a.first(c)
	}
}

// done ends the acceptor's watch over c's head; false if Close has closed c.
func (a *acceptor) done(c net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.reading, c)
	return !a.closing
}

// first reads c's first request head and hands c to engineio or to net/http.
func (a *acceptor) first(c net.Conn) {
	defer a.wg.Done()
	hp := a.heads.Get().(*[]byte)
	defer a.heads.Put(hp)
	buf := (*hp)[:0]
	if a.timeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(a.timeout))
	}
	end := -1
	for end < 0 && len(buf) < cap(buf) && couldBeGET(buf) {
		n, err := c.Read(buf[len(buf):cap(buf)])
		from := max(0, len(buf)-3)
		buf = buf[:len(buf)+n]
		if i := bytes.Index(buf[from:], []byte("\r\n\r\n")); i >= 0 {
			end = from + i + 4
			break
		}
		if err != nil { // closed, reset or silent until the timeout: nothing to answer
			a.done(c)
			_ = c.Close()
			return
		}
	}
	if end >= 0 && caseInsensitiveContains(buf[:end], "websocket") {
		if r := a.parse(buf[:end]); r != nil && a.direct(r) {
			if !a.done(c) {
				_ = c.Close()
				return
			}
			_ = c.SetReadDeadline(time.Time{})
			r.RemoteAddr = c.RemoteAddr().String()
			var br *bufio.Reader
			if rest := buf[end:]; len(rest) > 0 { // frames sent before the answer
				br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(rest)), c), headSize)
				_, _ = br.Peek(len(rest))
			}
			_ = a.serve(c, br, r) // refusals are answered and logged there
			return
		}
	}
	pc := &prefixConn{Conn: c, prefix: bytes.Clone(buf)}
	if !a.done(c) {
		_ = c.Close()
		return
	}
	select {
	case a.conns <- pc:
	case <-a.stop:
		_ = c.Close()
	}
}

// parse parses a request head, or returns nil.
func (a *acceptor) parse(head []byte) *http.Request {
	br := a.parsers.Get().(*bufio.Reader)
	defer a.parsers.Put(br)
	br.Reset(bytes.NewReader(head))
	r, err := http.ReadRequest(br)
	br.Reset(nil)
	if err != nil {
		return nil
	}
	return r
}

// couldBeGET reports whether b is a prefix of a GET request, or starts with one.
func couldBeGET(b []byte) bool {
	const get = "GET "
	n := min(len(b), len(get))
	return string(b[:n]) == get[:n]
}

// caseInsensitiveContains reports whether b contains the lower-case ASCII word w in
// any case.
func caseInsensitiveContains(b []byte, w string) bool {
	for i := 0; i+len(w) <= len(b); i++ {
		j := 0
		for j < len(w) && b[i+j]|0x20 == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// prefixConn is a connection handed to net/http: the bytes the acceptor read come
// first.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

var errPrefixUnread = errors.New("herald: bytes read ahead of the socket are still unread")

// SyscallConn gives engineio and plainws the socket itself (for writev and the epoll
// reader) once the bytes read ahead are consumed, which net/http's first read does.
func (c *prefixConn) SyscallConn() (syscall.RawConn, error) {
	if len(c.prefix) > 0 {
		return nil, errPrefixUnread
	}
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// CloseWrite lets net/http half-close after an error response, as with a TCPConn.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
