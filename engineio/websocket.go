package engineio

import (
	"errors"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// connSlot is the per-connection storage gws keeps for us: the session the
// connection belongs to and the hand-off of its messages to a processing goroutine,
// instead of gws's default map (which would cost every idle connection a map and a
// mutex). See wsHandler.OnMessage.
type connSlot struct {
	sess *Session
	// probe is the upgrade deadline while the connection is upgrading a polling
	// session and has not sent "5"; nil otherwise. Only message processing and
	// OnClose, which never overlap, touch it.
	probe *time.Timer
	// process runs the processing goroutine; it is bound once (wsHandler.attach) so
	// that starting it allocates nothing on the reader goroutine.
	process func()

	mu sync.Mutex // guards the fields below
	// next is the message handed over by the reader and not yet taken by the
	// processing goroutine.
	next *gws.Message
	// processing is set while a processing goroutine exists.
	processing bool
	// waiting is set while the reader waits on wake for next to be taken, or for the
	// processing goroutine to exit.
	waiting bool
	wake    sync.WaitGroup
}

// waitLocked waits until the processing goroutine takes next or exits. Only the
// reader goroutine calls it, with mu held; it returns with mu held.
func (c *connSlot) waitLocked() {
	c.waiting = true
	c.wake.Add(1)
	c.mu.Unlock()
	c.wake.Wait()
	c.mu.Lock()
}

// wakeLocked releases a waiting reader. mu must be held.
func (c *connSlot) wakeLocked() {
	if c.waiting {
		c.waiting = false
		c.wake.Done()
	}
}

func (c *connSlot) Len() int                     { return 0 }
func (c *connSlot) Load(string) (any, bool)      { return nil, false }
func (c *connSlot) Delete(string)                {}
func (c *connSlot) Store(string, any)            {}
func (c *connSlot) Range(func(string, any) bool) {}
func slotOf(c *gws.Conn) *connSlot               { return c.Session().(*connSlot) }

var _ gws.SessionStorage = (*connSlot)(nil)

// wsHandler receives gws events for every WebSocket of a Server. gws runs them on the
// connection's read goroutine, which must stay shallow: see OnMessage.
type wsHandler struct{ srv *Server }

var _ gws.Event = (*wsHandler)(nil)

func (h *wsHandler) OnOpen(*gws.Conn) {}

// OnPing answers a WebSocket ping here, on the reader goroutine: the write grows the
// reader's stack to 4 KB (see OnMessage), but Engine.IO clients never send WebSocket
// pings (Engine.IO has its own heartbeat, driven by the server), and gws allocates
// each ping's payload on this goroutine anyway.
func (h *wsHandler) OnPing(c *gws.Conn, payload []byte) { _ = c.WritePong(payload) }

func (h *wsHandler) OnPong(*gws.Conn, []byte) {}

// OnClose runs once the connection's reads have ended, after the messages read
// before have been processed.
func (h *wsHandler) OnClose(c *gws.Conn, err error) {
	slot := slotOf(c)
	if slot.sess == nil {
		return
	}
	slot.mu.Lock()
	for slot.processing {
		slot.waitLocked()
	}
	slot.mu.Unlock()
	if slot.probe != nil {
		slot.probe.Stop()
		slot.sess.abortProbe(c)
		return
	}
	slot.sess.close(closeReason(err), false)
}

// closeReason maps the error gws ends a read loop with to a session close reason.
func closeReason(err error) Reason {
	var ce *gws.CloseError
	if errors.As(err, &ce) {
		return ReasonTransportClose
	}
	// gws reports an oversized frame as its internal status code 1009.
	if sc, ok := err.(interface{ Uint16() uint16 }); ok && sc.Uint16() == 1009 {
		return ReasonPayloadTooLarge
	}
	return ReasonTransportError
}

// attach binds a new connection to its session, before its read loop starts.
func (h *wsHandler) attach(c *gws.Conn, sess *Session) *connSlot {
	slot := slotOf(c)
	slot.sess = sess
	slot.process = func() { h.process(c, slot) }
	return slot
}

// OnMessage hands the message to the connection's processing goroutine, starting one
// if there is none, so that the reader goroutine does nothing but read frames.
//
// Why: an idle connection's cost is mostly its reader's stack. Parked in a read, the
// reader uses about 1.06 KB of it (with shallowConn), which fits the 2 KB a goroutine
// starts with; the work a message triggers (decoding, the Socket.IO CONNECT,
// middlewares, handlers, encoding and queueing the reply) does not, and a stack that
// has grown is never shrunk back: the GC halves a stack only when less than a quarter
// of it is in use, counting 800 bytes of reserve, which a parked reader never is.
// Processing inline left every idle connection with a 4 KB reader stack; handing off
// halves it (BENCHMARKS.md, "Idle memory per connection"). For the same reason nothing
// here allocates: the allocator's slow paths (refilling a span, sweeping, assisting
// the GC) are deep enough to grow the stack from this depth. Measured with 10 000
// connections and a 1 s heartbeat: allocating the hand-off here grew 78% of the
// readers to 4 KB within a minute; without, none grew.
//
// Like the writer (Session.flushWS), the processing goroutine exists only while there
// is work: it takes messages one at a time, in order, and exits when none is waiting.
// The hand-off holds one message: when the previous one has not been taken yet, the
// reader waits, so a client flooding a slow handler is held back by TCP, and a
// connection holds at most two messages (one being processed, one handed over). A
// handler that blocks holds up only its own connection. The cost is a goroutine start
// per message, or per burst: BenchmarkInbound/flood/payload=8 went from about 0.3 to
// 1.1–1.6 µs per message.
func (h *wsHandler) OnMessage(c *gws.Conn, msg *gws.Message) {
	slot := slotOf(c)
	slot.mu.Lock()
	for slot.next != nil {
		slot.waitLocked()
	}
	slot.next = msg
	start := !slot.processing
	slot.processing = true
	slot.mu.Unlock()
	if start {
		h.srv.wg.Add(1)
		go slot.process()
	}
}

// process is the processing goroutine: it handles the messages the reader hands over
// until there are none.
func (h *wsHandler) process(c *gws.Conn, slot *connSlot) {
	defer h.srv.wg.Done()
	for {
		slot.mu.Lock()
		msg := slot.next
		slot.next = nil
		if msg == nil {
			slot.processing = false
		}
		slot.wakeLocked()
		slot.mu.Unlock()
		if msg == nil {
			return
		}
		h.handle(c, slot, msg)
	}
}

// handle processes one message.
func (h *wsHandler) handle(c *gws.Conn, slot *connSlot, msg *gws.Message) {
	defer h.srv.recoverPanic(nil) // as gws does around OnMessage
	defer msg.Close()
	s := slot.sess
	data := msg.Bytes()
	if slot.probe != nil {
		h.onProbeMessage(c, slot, data, msg.Opcode)
		return
	}
	if msg.Opcode == gws.OpcodeBinary {
		s.onPacket(Packet{Type: PacketMessage, Binary: true, Data: data})
		return
	}
	p, err := DecodePacket(data)
	if err != nil || p.Binary { // 'b'+base64 is for polling only
		h.srv.log.Info("engineio: bad packet", "sid", s.id, "transport", TransportWebSocket, "err", errString(err))
		s.close(ReasonParseError, true)
		return
	}
	s.onPacket(p)
}

// onProbeMessage runs the upgrade handshake on a probing WebSocket: "2probe" →
// "3probe", then "5" switches the session over. Anything else aborts the upgrade.
func (h *wsHandler) onProbeMessage(c *gws.Conn, slot *connSlot, data []byte, op gws.Opcode) {
	s := slot.sess
	switch {
	case op == gws.OpcodeText && string(data) == "2probe":
		if s.onProbe(c) {
			return
		}
	case op == gws.OpcodeText && string(data) == "5":
		if s.completeUpgrade(c) {
			slot.probe.Stop()
			slot.probe = nil
			h.srv.log.Debug("engineio: upgraded", "sid", s.id)
			return
		}
	}
	if s.abortProbe(c) {
		_ = c.WriteClose(1002, []byte("bad upgrade"))
	}
}

func errString(err error) string {
	if err == nil {
		return "binary packet on websocket"
	}
	return err.Error()
}
