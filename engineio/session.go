package engineio

import (
	"errors"
	"sync"
	"syscall"
	"time"

	"github.com/heraldhq/herald/internal/wswrite"
)

// ErrSessionClosed is returned by Send on a closed session.
var ErrSessionClosed = errors.New("engineio: session closed")

type transportKind uint8

const (
	kindPolling transportKind = iota + 1
	kindWebSocket
)

// upgrade states of a polling session (engine.io socket.ts _maybeUpgrade).
type upgradeState uint8

const (
	upgradeNone    upgradeState = iota
	upgradeProbing              // a WebSocket with this sid is open, no probe yet
	upgradePaused               // "3probe" sent: polling is paused until "5"
)

// Session is one Engine.IO connection, on whichever transport it currently uses.
//
// Outgoing packets go into a bounded queue. On a WebSocket, a session whose queue
// becomes non-empty joins the server's write pool (internal/wswrite): a few shared
// goroutines write each backlog in one non-blocking writev, and only a session whose
// socket is full gets a goroutine of its own until it drains. An idle session costs
// no goroutine besides its reader. On polling, the held GET takes the whole queue as
// one payload.
//
// Send, Close and the accessors are safe for concurrent use.
type Session struct {
	id    string
	srv   *Server
	hs    *Handshake
	value any // set by the Handler in OnOpen; read-only afterwards

	mu sync.Mutex // guards every field below
	// closed is set once; after it nothing more is queued (except the final close
	// packet of a polling session).
	closed        bool
	overflowed    bool // the queue overflowed; the close for it is under way
	kind          transportKind
	ws            wsConn          // the WebSocket, when kind is kindWebSocket
	raw           syscall.RawConn // ws's socket, for non-blocking writes; nil if it has none
	probe         wsConn          // the WebSocket being upgraded to
	upgrade       upgradeState
	queue         []*Frame
	spare         []*Frame // the writer's previous batch, reused as the next queue
	queued        int      // bytes in queue
	flushing      bool     // the session is in the write pool's line, or a goroutine owns its writes
	flushRound    uint64   // the write pool's round that last wrote the session
	pollID        uint64   // the epoll reader's id for the WebSocket (Config.EpollReads); 0 if none
	probeID       uint64   // the epoll reader's id for the probing WebSocket; 0 if none
	closeWS       Reason   // non-zero: the writer sends a close frame once the queue is drained
	poll          chan struct{}
	getting       bool // a polling GET is being served
	posting       bool // a polling POST is being served
	awaitingPong  bool
	closeDeadline bool // the heartbeat now bounds how long a closed polling session waits for its last GET
	// wheelLink arms the heartbeat (ping interval and ping timeout, one at a time) on
	// the server's timing wheel.
	wheelLink

	// dispatchMu serialises Handler.OnMessage calls for this session: during an
	// upgrade a POST and the new WebSocket can both carry messages.
	dispatchMu sync.Mutex
}

// ID returns the Engine.IO session id (the "sid").
func (s *Session) ID() string { return s.id }

// Handshake returns the request that opened the session.
func (s *Session) Handshake() *Handshake { return s.hs }

// SetValue attaches an application value to the session. Call it only from
// Handler.OnOpen; Value is safe to call from any goroutine after that.
func (s *Session) SetValue(v any) { s.value = v }

// Value returns the value set by SetValue.
func (s *Session) Value() any { return s.value }

// Transport returns the current transport name.
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kind == kindWebSocket {
		return TransportWebSocket
	}
	return TransportPolling
}

func (s *Session) isPolling() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kind == kindPolling
}

// Send queues one frame. It never blocks on the network. When the queue is over
// Config.WriteQueueBytes the session is closed with ReasonSlowConsumer (in another
// goroutine, so the caller is not held up) and that reason is returned.
func (s *Session) Send(f *Frame) error {
	s.mu.Lock()
	err := s.enqueueLocked(f.Len(), f)
	s.mu.Unlock()
	return s.afterEnqueue(err)
}

// SendBatch queues frames that must stay together, such as a Socket.IO packet and its
// binary attachments: all of them or none.
func (s *Session) SendBatch(fs []*Frame) error {
	n := 0
	for _, f := range fs {
		n += f.Len()
	}
	s.mu.Lock()
	err := s.enqueueLocked(n, fs...)
	s.mu.Unlock()
	return s.afterEnqueue(err)
}

// SendMessage queues a text message (the packet's "4" is added here).
func (s *Session) SendMessage(data []byte) error {
	return s.Send(FinishFrame(append(BeginMessage(len(data)), data...), false))
}

// SendBinary queues a binary message.
func (s *Session) SendBinary(data []byte) error { return s.Send(NewBinaryFrame(data)) }

// errOverflow is enqueueLocked's signal that the queue just overflowed; afterEnqueue
// starts the close once and reports ReasonSlowConsumer.
var errOverflow = errors.New("engineio: write queue overflow")

func (s *Session) afterEnqueue(err error) error {
	if err == errOverflow {
		err = ReasonSlowConsumer
		s.srv.wg.Add(1)
		go func() {
			defer s.srv.wg.Done()
			s.close(ReasonSlowConsumer, false)
		}()
	}
	return err
}

// enqueueLocked appends frames of n bytes in total. s.mu must be held.
func (s *Session) enqueueLocked(n int, fs ...*Frame) error {
	if s.closed {
		return ErrSessionClosed
	}
	if s.overflowed {
		return ReasonSlowConsumer
	}
	if len(s.queue) > 0 && s.queued+n > s.srv.cfg.WriteQueueBytes {
		s.overflowed = true
		return errOverflow
	}
	s.queue = append(s.queue, fs...)
	s.queued += n
	s.kickLocked()
	return nil
}

// kickLocked gets the queue moving: it puts the WebSocket in the write pool's line
// (or starts its own writer when its connection has no file descriptor), or wakes the
// held polling GET. s.mu must be held.
func (s *Session) kickLocked() {
	switch {
	case s.kind == kindWebSocket:
		if !s.flushing {
			s.flushing = true
			if s.raw != nil {
				s.srv.flush.Add((*wsFlusher)(s), s.flushRound)
			} else {
				s.srv.wg.Add(1)
				go s.flushWS(s.ws, nil)
			}
		}
	case s.poll != nil && s.upgrade != upgradePaused:
		close(s.poll)
		s.poll = nil
	}
}

// rawConn returns c's socket for non-blocking writes, or nil when it exposes none.
func rawConn(c wsConn) syscall.RawConn {
	if c == nil {
		return nil
	}
	return wswrite.RawConn(c.NetConn())
}

// takeQueueLocked takes the whole queue for writing. s.mu must be held.
func (s *Session) takeQueueLocked() []*Frame {
	q := s.queue
	s.queue, s.spare, s.queued = s.spare, nil, 0
	return q
}

// recycleLocked keeps a written batch's array as the next queue. s.mu must be held.
func (s *Session) recycleLocked(q []*Frame) {
	clear(q)
	if s.spare == nil {
		s.spare = q[:0]
	}
}

// doneFlushingLocked ends a flush of c: the session leaves the line, and if it is
// closing gracefully the close frame follows the drained queue (on a goroutine of its
// own when inline is false, so a pool worker never blocks on one peer). It unlocks
// s.mu.
func (s *Session) doneFlushingLocked(c wsConn, inline bool) {
	s.flushing = false
	closeWith := s.closeWS
	if s.ws != c {
		closeWith = 0
	}
	s.mu.Unlock()
	if closeWith == 0 {
		return
	}
	if inline {
		s.writeClose(c, closeWith)
		return
	}
	s.srv.wg.Add(1)
	go func() {
		defer s.srv.wg.Done()
		s.writeClose(c, closeWith)
	}()
}

func (s *Session) writeClose(c wsConn, r Reason) {
	_ = c.NetConn().SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	_ = c.WriteClose(r.wsCloseCode(), []byte(r.String()))
}

// writeFailed ends the session after a failed write on c.
func (s *Session) writeFailed(c wsConn) {
	s.mu.Lock()
	s.flushing = false
	s.mu.Unlock()
	s.close(ReasonTransportError, false)
	_ = c.NetConn().Close()
}

// wsFlusher is a Session as the write pool sees it.
type wsFlusher Session

// Flush writes the session's backlog without blocking (wswrite.Flusher).
func (f *wsFlusher) Flush(b *wswrite.Batch, round uint64) (again bool) {
	s := (*Session)(f)
	s.mu.Lock()
	s.flushRound = round
	c, raw := s.ws, s.raw
	if len(s.queue) == 0 || c == nil {
		s.doneFlushingLocked(c, false)
		return false
	}
	q := s.takeQueueLocked()
	s.mu.Unlock()
	for _, fr := range q {
		b.Add(fr.buf)
	}
	done, err := b.TryWrite(raw)
	s.mu.Lock()
	s.recycleLocked(q)
	if err == nil && done {
		if len(s.queue) > 0 && s.ws == c {
			s.mu.Unlock()
			return true
		}
		s.doneFlushingLocked(c, false)
		return false
	}
	s.mu.Unlock()
	if err != nil {
		b.Reset()
		s.writeFailed(c)
		return false
	}
	// The socket is full: finish on a goroutine that may block (up to WriteTimeout).
	rest := s.srv.batches.Get().(*wswrite.Batch)
	b.MoveTo(rest)
	s.srv.wg.Add(1)
	go s.flushWS(c, rest)
	return false
}

// flushWS writes to c with blocking writes, starting with what b holds (nil for
// nothing): for a socket that was full, until the rest is out, after which the session
// goes back to the pool's line if more is queued; for a connection without a file
// descriptor, until the queue is empty.
func (s *Session) flushWS(c wsConn, b *wswrite.Batch) {
	defer s.srv.wg.Done()
	if b == nil {
		b = s.srv.batches.Get().(*wswrite.Batch)
	}
	defer s.srv.batches.Put(b)
	nc := c.NetConn()
	for {
		if err := b.Write(nc, s.srv.cfg.WriteTimeout); err != nil {
			s.writeFailed(c)
			return
		}
		s.mu.Lock()
		if len(s.queue) == 0 || s.ws != c {
			s.doneFlushingLocked(c, true)
			return
		}
		if s.raw != nil {
			s.srv.flush.Add((*wsFlusher)(s), s.flushRound) // still flushing: back in line
			s.mu.Unlock()
			return
		}
		q := s.takeQueueLocked()
		for _, fr := range q {
			b.Add(fr.buf)
		}
		s.recycleLocked(q)
		s.mu.Unlock()
	}
}

// Close closes the session from the server side: queued packets are flushed, then the
// client is told to close (a WebSocket close frame, or a "1" packet on polling).
func (s *Session) Close() { s.close(ReasonForcedClose, true) }

// CloseWithReason is Close with a specific reason, e.g. ReasonParseError when the
// application protocol on top could not decode a message.
func (s *Session) CloseWithReason(r Reason) { s.close(r, true) }

// close ends the session once. alive says whether the transport can still carry a
// goodbye; only then, and only for graceful reasons, are the queue and a close sent.
func (s *Session) close(r Reason, alive bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.srv.heartbeats.cancel(s)
	graceful := alive && r.graceful()
	kind, ws, probe, pollID, probeID := s.kind, s.ws, s.probe, s.pollID, s.probeID
	s.probeID = 0
	s.probe = nil
	removeNow := true
	if kind == kindWebSocket {
		if graceful {
			s.closeWS = r
			s.kickLocked() // the writer sends the close frame after the queue
		}
	} else {
		// The close packet goes out alone, in the GET after the one that takes the
		// queue: engine.io-client handles a close packet at once but hands other
		// packets to socket.io-client on the next tick, so a "41" sharing a payload
		// with "1" would be reported as "transport close" (engine.io socket.ts
		// close waits for "drain" for the same reason).
		if !graceful {
			clear(s.queue)
			s.queue = s.queue[:0]
		}
		if s.poll != nil {
			close(s.poll)
			s.poll = nil
		}
		if graceful {
			// Keep the session for the client's next GET (engine.io waits
			// closeTimeout for it).
			removeNow = false
			s.closeDeadline = true
			s.srv.heartbeats.schedule(s, s.srv.cfg.PingTimeout)
		}
	}
	s.mu.Unlock()

	if probe != nil {
		_ = probe.NetConn().Close()
	}
	if ws != nil && !graceful {
		_ = ws.NetConn().Close()
	}
	for _, id := range [...]uint64{pollID, probeID} {
		if id != 0 {
			s.srv.epoll.remove(id)
		}
	}
	if removeNow {
		s.srv.sessions.remove(s)
	}
	s.srv.log.Debug("engineio: session closed", "sid", s.id, "reason", r.String())
	s.srv.handler.OnClose(s, r)
}

// cut drops the session's connections without a goodbye (end of a Shutdown grace).
func (s *Session) cut() {
	s.mu.Lock()
	ws, probe := s.ws, s.probe
	if s.poll != nil {
		close(s.poll)
		s.poll = nil
	}
	s.mu.Unlock()
	if ws != nil {
		_ = ws.NetConn().Close()
	}
	if probe != nil {
		_ = probe.NetConn().Close()
	}
	s.close(ReasonServerShutdown, false)
}

// startHeartbeat starts the ping timer. The server calls it after Handler.OnOpen, so
// the handler's setup happens before any timer-driven callback.
func (s *Session) startHeartbeat() {
	s.mu.Lock()
	if !s.closed {
		s.srv.heartbeats.schedule(s, s.srv.cfg.PingInterval)
	}
	s.mu.Unlock()
}

// onTimer drives the heartbeat (engine.io socket.ts schedulePing/resetPingTimeout):
// send a ping every PingInterval and close if no pong came within PingTimeout. After a
// graceful polling close it bounds the wait for the last GET instead. It runs on the
// timing wheel's goroutine for the arming due at tick due, and must not block.
func (s *Session) onTimer(due int64) {
	s.mu.Lock()
	if s.hbDue != due { // re-armed (a pong) or cancelled since the wheel took it
		s.mu.Unlock()
		return
	}
	if s.closed {
		expired := s.closeDeadline
		s.mu.Unlock()
		if expired {
			s.srv.sessions.remove(s)
		}
		return
	}
	if s.awaitingPong {
		s.mu.Unlock()
		s.srv.wg.Add(1) // the wheel's own goroutine is counted, so Wait cannot have returned
		go func() {
			defer s.srv.wg.Done()
			s.close(ReasonPingTimeout, false) // the handler's OnClose may take its time
		}()
		return
	}
	s.awaitingPong = true
	s.srv.heartbeats.schedule(s, s.srv.cfg.PingTimeout)
	s.queue = append(s.queue, s.srv.pingFrame) // a ping is never refused for queue size
	s.queued += s.srv.pingFrame.Len()
	s.kickLocked()
	s.mu.Unlock()
}

func (s *Session) onPong() {
	s.mu.Lock()
	if s.awaitingPong && !s.closed {
		s.awaitingPong = false
		s.srv.heartbeats.schedule(s, s.srv.cfg.PingInterval)
	}
	s.mu.Unlock()
}

// onPacket handles one packet from the client on the session's current transport.
func (s *Session) onPacket(p Packet) {
	switch p.Type {
	case PacketMessage:
		s.dispatch(p.Data, p.Binary)
	case PacketPong:
		s.onPong()
	case PacketClose:
		s.close(ReasonTransportClose, false)
	case PacketPing:
		// In v4 only the server pings ("invalid heartbeat direction" in engine.io).
		s.close(ReasonTransportError, true)
	}
	// open, upgrade and noop from the client carry nothing on an open session.
}

// dispatch hands one message to the Handler.
func (s *Session) dispatch(data []byte, binary bool) {
	s.dispatchMu.Lock()
	defer s.dispatchMu.Unlock() // a handler that panics (and is recovered) must not leave it locked
	s.srv.handler.OnMessage(s, data, binary)
}

// beginUpgrade reserves the session for a probing WebSocket; false if it is not a
// polling session or another upgrade is under way.
func (s *Session) beginUpgrade() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.kind != kindPolling || s.upgrade != upgradeNone {
		return false
	}
	s.upgrade = upgradeProbing
	return true
}

// attachProbe records the probing WebSocket, or releases the reservation when c is nil.
func (s *Session) attachProbe(c wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c == nil || s.closed {
		s.upgrade = upgradeNone
		return false
	}
	s.probe = c
	return true
}

// abortProbe gives up an upgrade through c; it reports whether c was the probe.
func (s *Session) abortProbe(c wsConn) bool {
	s.mu.Lock()
	if s.probe != c {
		s.mu.Unlock()
		return false
	}
	s.probe = nil
	s.upgrade = upgradeNone
	if len(s.queue) > 0 || s.closed {
		s.kickLocked() // polling resumes with what was held back during the probe
	}
	probeID := s.probeID
	s.probeID = 0
	s.mu.Unlock()
	if probeID != 0 {
		s.srv.epoll.remove(probeID) // the epoll reader forgets the probe
	}
	return true
}

// onProbe answers "2probe" and releases the held GET so the client can pause polling.
func (s *Session) onProbe(c wsConn) bool {
	s.mu.Lock()
	if s.probe != c || s.upgrade != upgradeProbing {
		s.mu.Unlock()
		return false
	}
	s.upgrade = upgradePaused
	if s.poll != nil {
		close(s.poll)
		s.poll = nil
	}
	s.mu.Unlock()
	return writeDirect(c, s.srv.pongProbeFrame) == nil
}

// completeUpgrade switches the session to c on the "5" packet and flushes the queue
// there.
func (s *Session) completeUpgrade(c wsConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.probe != c || s.upgrade != upgradePaused || s.closed {
		return false
	}
	s.kind, s.ws, s.raw, s.probe, s.upgrade = kindWebSocket, c, rawConn(c), nil, upgradeNone
	if s.poll != nil {
		close(s.poll) // the held GET answers noop
		s.poll = nil
	}
	if len(s.queue) > 0 {
		s.kickLocked()
	}
	return true
}
