//go:build linux

package main

// The epoll read path of the client (Dialer.Epoll).
//
// The load client shares the machine with the servers it measures, so what it
// spends per delivered message is taken from them. With a reader goroutine per
// connection (gws) a message costs a read, a read that returns EAGAIN, a goroutine
// parked and woken, and gws's per-message bookkeeping. Here a Dialer's connections
// are spread over GOMAXPROCS pollers: one goroutine each, with its own epoll
// instance (level-triggered) and one read buffer. A poller reads each ready socket
// once per wakeup into that buffer and parses it in place (wsframe, FromServer); if
// more is left, epoll reports the socket again. A connection holds no goroutine and
// no buffer, only its parser, which keeps the bytes of a frame cut at the end of a
// read.
//
// Lifecycle: the poller owns the socket's descriptor. It is the only one to read
// it and the only one to close the connection, after taking it out of its epoll
// set, so no descriptor number is used after it was closed. Everyone else ends a
// connection by sending the close frame and shutting the reading side down
// (CloseRead): the poller then finds it readable, sees the close sent (or reads
// EOF), and closes it. Writes go through net.Conn.Write (the runtime waits for
// a full send buffer), one frame at a time under a per-connection mutex.
//
// A Dialer's pollers start with its first connection and stop once its last one
// has ended; the next Dial starts new ones. Dialer.Wait waits for them.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/epoll"
	"github.com/heraldhq/herald/internal/wsframe"
)

// epollSupported says whether Dialer.Epoll can take effect.
const epollSupported = true

const (
	pollReadBuffer = 64 << 10 // a poller's read buffer, reused for every read
	pollBatch      = 256      // events per epoll_wait
	// maxReadsPerWake bounds the reads of one socket per wakeup (see serve).
	maxReadsPerWake = 16
	// maxMessage is the largest message accepted, as with gws's client default
	// (ReadMaxPayloadSize).
	maxMessage = 16 << 20
	// maxPooledFrame is the largest write buffer kept for reuse: a rare big frame
	// must not stay allocated.
	maxPooledFrame = 64 << 10
)

// errClosedHere ends a connection that this side closed (Client.Close, or a close
// frame the handling sent); errConnClosed is a write after that.
var (
	errClosedHere = errors.New("connection closed by the client")
	errConnClosed = errors.New("websocket: connection closed")
)

// epollGroup is a Dialer's pollers.
type epollGroup struct {
	mu      sync.Mutex // guards the fields below
	pollers []*poller  // nil while the Dialer has no epoll connection
	next    int        // round-robin over pollers
	live    int        // connections registered and not yet ended

	frames    sync.Pool // *[]byte: buffers for building masked frames
	responses sync.Pool // *bufio.Reader: for the HTTP upgrade responses
}

// poller reads the connections registered with its epoll instance, which it waits
// for through the runtime's netpoller (internal/epoll: blocking in epoll_wait took
// twice the context switches in a fanout run on 2 cores).
type poller struct {
	d    *Dialer
	ep   *epoll.Instance // waited for in the runtime's netpoller
	epfd int             // ep.FD
	wake [2]int          // a pipe in the epoll set: written once when the poller must stop

	mu    sync.Mutex           // guards conns and stop
	conns map[int32]*epollConn // by descriptor
	stop  bool                 // set, with the wake byte written, when the Dialer's last connection ended
}

// epollConn is one connection of the epoll path.
type epollConn struct {
	c  *Client
	nc *net.TCPConn
	fd int // the socket; read only by the poller, closed only by it (with nc)

	// parser and endErr belong to the poller (to the dialing goroutine before
	// the connection is registered).
	parser wsframe.Parser
	endErr error // why the connection is ending, when the handling knows better than the read

	wmu       sync.Mutex  // one frame at a time on the wire
	closeSent atomic.Bool // set (under wmu) when the close frame is written: no more frames
}

// register adds ec to a poller, starting the Dialer's pollers if it has none.
func (d *Dialer) register(ec *epollConn) error {
	g := &d.ep
	g.mu.Lock()
	if g.pollers == nil {
		ps, err := d.startPollers()
		if err != nil {
			g.mu.Unlock()
			return err
		}
		g.pollers = ps
	}
	p := g.pollers[g.next%len(g.pollers)]
	g.next++
	g.live++ // keeps p running until ec ends
	g.mu.Unlock()
	if err := p.add(ec); err != nil {
		d.release()
		return err
	}
	return nil
}

// release counts a connection out; the last one stops the pollers.
func (d *Dialer) release() {
	g := &d.ep
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.live--; g.live > 0 {
		return
	}
	for _, p := range g.pollers {
		p.shutdown()
	}
	g.pollers = nil
}

// startPollers creates GOMAXPROCS pollers and starts their goroutines. d.ep.mu
// is held.
func (d *Dialer) startPollers() ([]*poller, error) {
	ps := make([]*poller, runtime.GOMAXPROCS(0))
	for i := range ps {
		p, err := newPoller(d)
		if err != nil {
			for _, p := range ps[:i] {
				p.closeFDs()
			}
			return nil, err
		}
		ps[i] = p
	}
	for _, p := range ps {
		d.readers.Add(1)
		go p.run()
	}
	return ps, nil
}

func newPoller(d *Dialer) (*poller, error) {
	ep, err := epoll.New()
	if err != nil {
		return nil, err
	}
	epfd := ep.FD
	p := &poller{d: d, ep: ep, epfd: epfd, conns: make(map[int32]*epollConn)}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = p.ep.Close()
		return nil, os.NewSyscallError("pipe2", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wake[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return p, nil
}

func (p *poller) closeFDs() {
	_ = p.ep.Close()
	_ = syscall.Close(p.wake[0])
	_ = syscall.Close(p.wake[1])
}

// add puts ec's socket in the epoll set. Level-triggered: a socket with unread
// bytes is reported at every epoll_wait, so one read per wakeup loses nothing.
func (p *poller) add(ec *epollConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[int32(ec.fd)] = ec
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(ec.fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, ec.fd, &ev); err != nil {
		delete(p.conns, int32(ec.fd))
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// shutdown makes the poller end; it has no connection left. The flag and the
// wake byte go together under p.mu, so the poller, which closes the pipe once it
// has seen the flag, never has it closed under a write.
func (p *poller) shutdown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop = true
	_, _ = syscall.Write(p.wake[1], []byte{1})
}

func (p *poller) run() {
	defer p.d.readers.Done()
	events := make([]syscall.EpollEvent, pollBatch)
	ready := make([]*epollConn, pollBatch)
	buf := make([]byte, pollReadBuffer)
	for {
		n, err := p.ep.Wait(events)
		if err != nil {
			// Only a bug makes this fail (a closed instance, EFAULT, EINVAL); carrying on
			// would leave every connection of this poller unread, and the run hanging.
			panic(fmt.Sprintf("herald-bench: epoll_wait: %v", err))
		}
		// One lock per batch. The connections looked up stay valid through it: only
		// this goroutine ends them, each at most once (one event per socket per batch).
		p.mu.Lock()
		stop := p.stop
		for i, ev := range events[:n] {
			ready[i] = p.conns[ev.Fd] // nil for the wake pipe
		}
		p.mu.Unlock()
		if stop {
			p.closeFDs()
			return
		}
		for i, ec := range ready[:n] {
			if ec != nil {
				p.serve(ec, events[i].Events, buf)
				ready[i] = nil
			}
		}
	}
}

// serve reads a ready socket and handles what came. A read that fills the buffer
// is followed by another, up to maxReadsPerWake: a socket that fell behind is
// drained as gws's reader would drain it (one 64 KiB read per turn let backlogs grow
// at 5 000 msg/s until the server dropped slow consumers), while a short read, the
// common case, means the socket is empty for now and costs no EAGAIN read.
func (p *poller) serve(ec *epollConn, events uint32, buf []byte) {
	for range maxReadsPerWake {
		if ec.closeSent.Load() { // closed on this side: nothing more to read
			p.end(ec, errClosedHere)
			return
		}
		n, err := syscall.Read(ec.fd, buf)
		switch {
		case err == syscall.EINTR:
			return // still ready: reported again
		case err == syscall.EAGAIN:
			if events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				p.end(ec, io.ErrUnexpectedEOF)
			}
			return
		case err != nil:
			p.end(ec, os.NewSyscallError("read", err))
			return
		case n == 0:
			p.end(ec, io.EOF)
			return
		}
		if ec.feed(buf[:n]) || ec.closeSent.Load() {
			p.end(ec, errClosedHere)
			return
		}
		if n < len(buf) {
			return
		}
	}
}

// end takes ec out of the epoll set, closes it, and runs the Client's close
// handling. Only the poller calls it, once per connection.
func (p *poller) end(ec *epollConn, err error) {
	p.mu.Lock()
	delete(p.conns, int32(ec.fd))
	p.mu.Unlock()
	// Out of the set before the descriptor is closed: its number may be reused at once.
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, ec.fd, &syscall.EpollEvent{})
	_ = ec.nc.Close()
	if ec.endErr != nil {
		err = ec.endErr
	}
	ec.c.onClose(err)
	p.d.release()
}

// feed parses bytes read from the socket and handles the messages in them. It
// reports whether the connection must end (a protocol error, answered with a close
// frame; ec.endErr says which).
func (ec *epollConn) feed(b []byte) bool {
	err := ec.parser.Feed(b, ec.onFrame)
	if err == nil {
		return false
	}
	code := uint16(1002)
	if ce, ok := errors.AsType[*wsframe.CloseError](err); ok {
		code = ce.Code
	}
	ec.endErr = err
	_ = ec.WriteClose(code, nil)
	return true
}

// onFrame handles one message or control frame; false once the connection is
// closing.
func (ec *epollConn) onFrame(op wsframe.Opcode, payload []byte) bool {
	switch op {
	case wsframe.OpText:
		ec.c.onText(payload)
	case wsframe.OpPing:
		_ = writeFrame(ec, wsframe.OpPong, payload)
	case wsframe.OpClose:
		code := uint16(1005) // no status code
		if len(payload) >= 2 {
			code = binary.BigEndian.Uint16(payload)
		}
		ec.endErr = fmt.Errorf("websocket: closed by the server (code %d)", code)
		_ = ec.WriteClose(1000, nil)
	}
	// Binary messages (attachments) and pongs are not counted.
	return !ec.closeSent.Load()
}

// clientConn implementation.

func (ec *epollConn) WriteString(s string) error { return writeFrame(ec, wsframe.OpText, s) }

func (ec *epollConn) WriteText(b []byte) error { return writeFrame(ec, wsframe.OpText, b) }

// WriteClose sends the close frame (once) and shuts the reading side down, which
// makes the poller end the connection.
func (ec *epollConn) WriteClose(code uint16, reason []byte) error {
	var b [125]byte
	payload := append(binary.BigEndian.AppendUint16(b[:0], code), reason[:min(len(reason), len(b)-2)]...)
	err := writeFrame(ec, wsframe.OpClose, payload)
	_ = ec.nc.CloseRead()
	return err
}

func (ec *epollConn) shutdown() { _ = ec.WriteClose(1000, nil) }

// writeFrame sends one frame, masked with a fresh key as a client's must be.
func writeFrame[T ~string | ~[]byte](ec *epollConn, op wsframe.Opcode, payload T) error {
	pool := &ec.c.d.ep.frames
	bp, _ := pool.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	frame := wsframe.AppendMaskedFrame((*bp)[:0], op, payload, key)
	err := ec.send(frame, op == wsframe.OpClose)
	if cap(frame) <= maxPooledFrame {
		*bp = frame
		pool.Put(bp)
	}
	return err
}

// send writes one whole frame; after the close frame nothing more.
func (ec *epollConn) send(frame []byte, closing bool) error {
	ec.wmu.Lock()
	defer ec.wmu.Unlock()
	if ec.closeSent.Load() {
		return errConnClosed
	}
	if closing {
		ec.closeSent.Store(true)
		// A peer that stopped reading must not hold the closer (or the poller) up.
		_ = ec.nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	}
	_, err := ec.nc.Write(frame)
	return err
}
