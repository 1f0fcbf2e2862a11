//go:build linux

package engineio

import (
	"errors"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/epoll"
	"github.com/heraldhq/herald/internal/wsframe"
)

// epollSupported says whether Config.EpollReads can take effect on this platform.
const epollSupported = true

// poller reads the WebSockets of a Server with Config.EpollReads from one epoll
// instance instead of a goroutine per connection: an idle connection costs no
// goroutine and no read buffer. Each socket is registered one-shot; when it becomes
// readable, a goroutine reads what is there into a pooled buffer, hands complete
// messages to the session in order, and re-arms the socket. So a connection has at
// most one reader at a time, and none while idle.
type poller struct {
	srv *Server

	mu       sync.Mutex      // guards the fields below
	epfd     int             // -1 until the first connection
	ep       *epoll.Instance // epfd, waited for in the runtime's netpoller
	wake     [2]int          // a pipe in the epoll set: writing to it ends the loop
	conns    map[uint64]*pollConn
	lastID   uint64
	stopping bool // Shutdown began: end the loop once conns is empty
	stopped  bool

	bufs sync.Pool // *[]byte read buffers
}

// readBufferSize is the size of the pooled buffers reads go into.
const readBufferSize = 16 << 10

// pollConn is one WebSocket served by the poller.
type pollConn struct {
	p      *poller
	id     uint64
	sess   *Session
	c      wsConn
	rc     syscall.RawConn
	parser wsframe.Parser // touched only by the connection's one reading goroutine
	// probe is set while the connection upgrades its session from polling (until "5");
	// deadline bounds that. Both are touched only by the reading goroutine (and set
	// before the first read).
	probe    bool
	deadline *time.Timer
}

// wakeID is the epoll data of the wake pipe; connections count from 1.
const wakeID = 0

func newPoller(srv *Server) *poller {
	p := &poller{srv: srv, epfd: -1, conns: make(map[uint64]*pollConn)}
	p.bufs.New = func() any { b := make([]byte, readBufferSize); return &b }
	return p
}

// add registers c's socket for sess; false (with nothing registered) when c has no
// file descriptor or the poller is stopping, in which case the caller reads c with
// gws's read loop instead.
func (p *poller) add(sess *Session, c wsConn) bool {
	return p.register(sess, c, nil) != nil
}

// addProbe registers a WebSocket that is upgrading sess from polling: its messages
// run the probe exchange ("2probe", "5") until the session moves onto it, and
// timeout runs if that has not happened within UpgradeTimeout. It returns false when
// the poller cannot take it.
func (p *poller) addProbe(sess *Session, c wsConn, timeout func()) bool {
	return p.register(sess, c, timeout) != nil
}

// register adds c to the epoll set for sess; a probe when timeout is set.
func (p *poller) register(sess *Session, c wsConn, timeout func()) *pollConn {
	probe := timeout != nil
	rc := rawConn(c)
	if rc == nil {
		return nil
	}
	p.mu.Lock()
	if p.stopping || p.stopped || p.epfd < 0 && !p.startLocked() {
		p.mu.Unlock()
		return nil
	}
	p.lastID++
	pc := &pollConn{p: p, id: p.lastID, sess: sess, c: c, rc: rc, probe: probe}
	pc.parser.MaxPayload = p.srv.cfg.MaxPayload
	if probe { // before the socket can be read: the reader stops it
		pc.deadline = time.AfterFunc(p.srv.cfg.UpgradeTimeout, timeout)
	}
	if probe && !pc.setProbeID(pc.id) { // the upgrade was given up already
		p.mu.Unlock()
		pc.deadline.Stop()
		return nil
	}
	p.conns[pc.id] = pc
	var errno error
	if err := rc.Control(func(fd uintptr) {
		errno = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), pc.event())
	}); err != nil || errno != nil {
		delete(p.conns, pc.id)
		p.mu.Unlock()
		if probe {
			pc.deadline.Stop()
			pc.setProbeID(0)
		}
		return nil
	}
	p.mu.Unlock()
	if probe {
		// The session owns it only once the upgrade completes (onProbeFrame); until
		// then, a session that closes or gives the upgrade up removes it by probeID.
		return pc
	}
	if !pc.own() {
		p.remove(pc.id) // closed while registering: close() found no pollID to remove
	}
	return pc
}

// setProbeID records id as the session's probe registration, before the socket can
// be read (so a completed upgrade always finds it); false if pc.c is no longer the
// session's probe. register calls it with p.mu held (the only place the two locks
// nest, always in that order) and, to undo it, without.
func (pc *pollConn) setProbeID(id uint64) bool {
	s := pc.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != 0 && s.probe != pc.c {
		return false
	}
	s.probeID = id
	return true
}

// own records pc as its session's connection, so the session's close removes it; false
// if the session has already closed.
func (pc *pollConn) own() bool {
	s := pc.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pollID = pc.id
	if s.probeID == pc.id {
		s.probeID = 0
	}
	return !s.closed
}

// event is the one-shot registration of pc.
func (pc *pollConn) event() *syscall.EpollEvent {
	return &syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(pc.id)),
		Pad:    int32(uint32(pc.id >> 32)),
	}
}

// startLocked creates the epoll instance and starts the loop. p.mu must be held;
// the caller's request holds a count in srv.wg, so the Add here cannot race Wait.
func (p *poller) startLocked() bool {
	ep, err := epoll.New()
	if err != nil {
		p.srv.log.Error("engineio: epoll unavailable, reading with a goroutine per connection", slog.String("err", err.Error()))
		return false
	}
	epfd := ep.FD
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = ep.Close()
		return false
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: wakeID}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		_ = ep.Close()
		_ = syscall.Close(p.wake[0])
		_ = syscall.Close(p.wake[1])
		return false
	}
	p.epfd, p.ep = epfd, ep
	p.srv.wg.Add(1)
	go p.run()
	return true
}

// remove forgets a connection (its session closed). The socket leaves the epoll set
// when it is closed.
func (p *poller) remove(id uint64) {
	p.mu.Lock()
	delete(p.conns, id)
	p.wakeIfDoneLocked()
	p.mu.Unlock()
}

// stop makes the loop end once every connection is gone (Shutdown calls it after
// closing the sessions).
func (p *poller) stop() {
	p.mu.Lock()
	p.stopping = true
	if p.epfd < 0 {
		p.stopped = true
	}
	p.wakeIfDoneLocked()
	p.mu.Unlock()
}

func (p *poller) wakeIfDoneLocked() {
	if p.stopping && !p.stopped && p.epfd >= 0 && len(p.conns) == 0 {
		_, _ = syscall.Write(p.wake[1], []byte{1})
	}
}

func (p *poller) run() {
	defer p.srv.wg.Done()
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := p.ep.Wait(events)
		if err != nil {
			p.srv.log.Error("engineio: epoll_wait failed; WebSocket reads stop", slog.String("err", err.Error()))
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			p.mu.Lock()
			if id == wakeID {
				p.stopped = true
				_ = p.ep.Close()
				_ = syscall.Close(p.wake[0])
				_ = syscall.Close(p.wake[1])
				p.mu.Unlock()
				return
			}
			pc := p.conns[id]
			if pc != nil {
				p.srv.wg.Add(1) // this goroutine's own count keeps wg above zero
			}
			p.mu.Unlock()
			if pc != nil {
				go pc.serve()
			}
		}
	}
}

// serve reads what the socket has, hands complete messages to the session, and
// re-arms the registration, unless the connection ended.
func (pc *pollConn) serve() {
	defer pc.p.srv.wg.Done()
	bp := pc.p.bufs.Get().(*[]byte)
	defer pc.p.bufs.Put(bp)
	buf := *bp
	for {
		var n int
		var rerr error
		if err := pc.rc.Read(func(fd uintptr) bool {
			n, rerr = syscall.Read(int(fd), buf)
			return true // never wait: the poller calls again when there is more
		}); err != nil {
			return // closed by the session
		}
		switch {
		case rerr == syscall.EAGAIN:
			pc.rearm()
			return
		case rerr == syscall.EINTR:
			continue
		case rerr != nil:
			pc.end(ReasonTransportError)
			return
		case n == 0:
			pc.end(ReasonTransportClose)
			return
		}
		open := true
		if err := pc.parser.Feed(buf[:n], func(op wsframe.Opcode, payload []byte) bool {
			open = pc.onFrame(op, payload)
			return open
		}); err != nil {
			pc.refuse(err)
			return
		}
		if !open {
			return
		}
		if n < len(buf) {
			pc.rearm() // drained: level-triggered, so data that came meanwhile fires again
			return
		}
	}
}

// onFrame handles one message or control frame; false once the connection is over.
func (pc *pollConn) onFrame(op wsframe.Opcode, payload []byte) bool {
	if pc.probe {
		switch op {
		case wsframe.OpPing: // the session's queue is still polling's: answer here
			_ = writeDirect(pc.c, NewBinaryFrame(payload).WithOpcode(0xA))
			return true
		case wsframe.OpPong:
			return true
		}
		return pc.onProbeFrame(op, payload)
	}
	switch op {
	case wsframe.OpText, wsframe.OpBinary:
		pc.dispatch(payload, op == wsframe.OpBinary)
	case wsframe.OpPing:
		_ = pc.sess.Send(NewBinaryFrame(payload).WithOpcode(0xA))
	case wsframe.OpClose:
		code := uint16(1000)
		if len(payload) >= 2 {
			code = uint16(payload[0])<<8 | uint16(payload[1])
		}
		_ = pc.c.WriteClose(code, nil) // the answer; the socket is closed after it
		pc.sess.close(ReasonTransportClose, false)
		return false
	}
	return true
}

// onProbeFrame runs the upgrade exchange on a probing connection (engine.io
// socket.ts _maybeUpgrade): "2probe" → "3probe", then "5" moves the session onto it.
// Anything else gives the upgrade up and closes the connection.
func (pc *pollConn) onProbeFrame(op wsframe.Opcode, payload []byte) bool {
	s := pc.sess
	switch {
	case op == wsframe.OpText && string(payload) == "2probe":
		if s.onProbe(pc.c) {
			return true
		}
	case op == wsframe.OpText && string(payload) == "5":
		if s.completeUpgrade(pc.c) {
			pc.probe = false
			pc.deadline.Stop()
			if !pc.own() {
				pc.p.remove(pc.id)
				return false
			}
			pc.p.srv.log.Debug("engineio: upgraded", "sid", s.id)
			return true
		}
	}
	code, reason := uint16(1002), []byte("bad upgrade")
	if op == wsframe.OpClose {
		code, reason = 1000, nil
	}
	pc.dropProbe(code, reason)
	return false
}

// dropProbe gives a probing connection's upgrade up and closes it.
func (pc *pollConn) dropProbe(code uint16, reason []byte) {
	pc.deadline.Stop()
	pc.sess.abortProbe(pc.c)
	_ = pc.c.WriteClose(code, reason)
	pc.p.remove(pc.id)
}

// dispatch hands one message to the session; a handler's panic is logged and the
// connection goes on, as with gws's read loop.
func (pc *pollConn) dispatch(data []byte, binary bool) {
	defer pc.p.srv.recoverPanic(nil)
	pc.sess.onWSMessage(data, binary)
}

// refuse closes the connection after a protocol violation, with the code the parser
// chose.
func (pc *pollConn) refuse(err error) {
	var ce *wsframe.CloseError
	if !errors.As(err, &ce) {
		pc.end(ReasonTransportError)
		return
	}
	pc.p.srv.log.Info("engineio: bad websocket frame", "sid", pc.sess.id, "code", ce.Code, "reason", ce.Reason)
	if pc.probe {
		pc.dropProbe(ce.Code, []byte(ce.Reason))
		return
	}
	_ = pc.c.WriteClose(ce.Code, []byte(ce.Reason))
	r := ReasonTransportError
	if ce.Code == 1009 {
		r = ReasonPayloadTooLarge
	}
	pc.sess.close(r, false)
}

// end closes the session after the peer went away or a read failed.
func (pc *pollConn) end(r Reason) {
	if pc.probe { // a failed upgrade does not end the polling session
		pc.deadline.Stop()
		pc.sess.abortProbe(pc.c)
		pc.p.remove(pc.id)
	} else {
		pc.sess.close(r, false)
	}
	_ = pc.c.NetConn().Close()
}

// rearm asks for the next readiness event. Done under Control, which holds the
// descriptor open, so a number reused by a newer socket is never touched.
func (pc *pollConn) rearm() {
	_ = pc.rc.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(pc.p.epfd, syscall.EPOLL_CTL_MOD, int(fd), pc.event())
	})
}
