package engineio

import (
	"errors"

	"github.com/lxzan/gws"
)

// connSlot is the per-connection storage gws keeps for us: just the session the
// connection belongs to, instead of gws's default map (which would cost every idle
// connection a map and a mutex).
type connSlot struct {
	sess  *Session
	probe bool // the connection is upgrading a polling session and has not sent "5"
}

func (c *connSlot) Len() int                     { return 0 }
func (c *connSlot) Load(string) (any, bool)      { return nil, false }
func (c *connSlot) Delete(string)                {}
func (c *connSlot) Store(string, any)            {}
func (c *connSlot) Range(func(string, any) bool) {}
func slotOf(c *gws.Conn) *connSlot               { return c.Session().(*connSlot) }

var _ gws.SessionStorage = (*connSlot)(nil)

// wsHandler receives gws events for every WebSocket of a Server. gws runs them on the
// connection's read goroutine.
type wsHandler struct{ srv *Server }

var _ gws.Event = (*wsHandler)(nil)

func (h *wsHandler) OnOpen(*gws.Conn) {}

// OnPing answers a WebSocket ping. On a session's connection the pong goes through
// the session's queue: the write pool writes that socket directly, and a frame gws
// wrote itself could land in the middle of one of ours.
func (h *wsHandler) OnPing(c *gws.Conn, payload []byte) {
	slot := slotOf(c)
	if slot.sess != nil && !slot.probe {
		_ = slot.sess.Send(NewBinaryFrame(payload).WithOpcode(0xA))
		return
	}
	_ = c.WritePong(payload)
}

func (h *wsHandler) OnPong(*gws.Conn, []byte) {}

func (h *wsHandler) OnClose(c *gws.Conn, err error) {
	slot := slotOf(c)
	if slot.sess == nil {
		return
	}
	if slot.probe {
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

func (h *wsHandler) OnMessage(c *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	slot := slotOf(c)
	s := slot.sess
	if s == nil {
		return
	}
	if slot.probe {
		h.onProbeMessage(c, slot, msg.Bytes(), msg.Opcode)
		return
	}
	s.onWSMessage(msg.Bytes(), msg.Opcode == gws.OpcodeBinary)
}

// onWSMessage handles one complete message from the session's WebSocket (read by
// gws's read loop or by the epoll reader).
func (s *Session) onWSMessage(data []byte, binary bool) {
	if binary {
		s.onPacket(Packet{Type: PacketMessage, Binary: true, Data: data})
		return
	}
	p, err := DecodePacket(data)
	if err != nil || p.Binary { // 'b'+base64 is for polling only
		s.srv.log.Info("engineio: bad packet", "sid", s.id, "transport", TransportWebSocket, "err", errString(err))
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
			slot.probe = false
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
