//go:build unix

package engineio

import (
	"io"
	"net"
	"os"
	"syscall"
)

// shallowConn is a socket whose Read reaches the kernel through syscall.RawConn
// instead of net.Conn.Read. Everything else is the embedded connection's.
//
// Why: a WebSocket's reader goroutine spends an idle connection's life parked in
// Read, and the depth of that call decides the size of its stack (see
// wsHandler.OnMessage). Below bufio.Reader.Read, net.(*conn).Read → (*netFD).Read →
// poll.(*FD).Read take 296 bytes of frames; Read → net.(*rawConn).Read →
// poll.(*FD).RawRead take 184 (Go 1.26, amd64). That takes a parked reader from about
// 1.18 KB of stack to 1.06 KB, and it matters twice: the runtime grows a 2 KB stack
// once a call goes deeper than 2 KB minus a 928-byte guard (1120 bytes), and, since
// Go 1.19, starts new goroutines at 2 KB only while the goroutines it scanned at the
// last GC used less than that on average, otherwise at 4 KB (adaptive stack start).
// With 10 000 idle Socket.IO connections: every reader at 4 KB through net.Conn.Read,
// about 97% at 2 KB through this (BENCHMARKS.md, "Idle memory per connection").
type shallowConn struct {
	net.Conn
	raw syscall.RawConn
	// readFn is readFD bound once, so that Read does not allocate.
	readFn func(fd uintptr) bool
	// buf, n and errno carry Read's argument and results through readFn. Only the
	// reader goroutine calls Read.
	buf   []byte
	n     int
	errno syscall.Errno
}

// shallowReads says whether shallowRead wraps sockets on this platform.
const shallowReads = true

// shallowRead returns nc with a shallow Read when nc is a socket (*net.TCPConn,
// *net.UnixConn), and nc itself otherwise (TLS, in-memory connections).
func shallowRead(nc net.Conn) net.Conn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nc
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nc
	}
	c := &shallowConn{Conn: nc, raw: raw}
	c.readFn = c.readFD
	return c
}

// Read reads like net.Conn.Read: it waits in the runtime's poller until the socket
// is readable, honours read deadlines, and returns io.EOF once the peer has closed.
// Its frame is kept small: the reader is parked inside it.
func (c *shallowConn) Read(p []byte) (int, error) {
	c.buf = p
	if err := c.raw.Read(c.readFn); err != nil {
		c.buf = nil
		return 0, err // closed, or past a deadline: a *net.OpError, as from net.Conn.Read
	}
	return c.result()
}

// result returns what readFD read, as net.Conn.Read would.
func (c *shallowConn) result() (int, error) {
	n, errno, asked := c.n, c.errno, len(c.buf)
	c.buf, c.n, c.errno = nil, 0, 0
	switch {
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(),
			Addr: c.RemoteAddr(), Err: os.NewSyscallError("read", errno)}
	case n == 0 && asked > 0:
		return 0, io.EOF
	}
	return n, nil
}

// readFD makes one read(2) on the socket; false means "nothing to read yet, wait".
func (c *shallowConn) readFD(fd uintptr) bool {
	for {
		n, err := syscall.Read(int(fd), c.buf)
		switch err {
		case nil:
			c.n = n
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			c.errno, _ = err.(syscall.Errno)
			if c.errno == 0 {
				c.errno = syscall.EIO // syscall.Read returns only Errno; be safe
			}
		}
		return true
	}
}

// netConn returns the connection to write to: the socket itself, so that a backlog
// still goes out in one writev (net.Buffers uses writev only on the net package's
// own connections).
func netConn(c net.Conn) net.Conn {
	if sc, ok := c.(*shallowConn); ok {
		return sc.Conn
	}
	return c
}
