package engineio

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/internal/base64id"
	"github.com/heraldhq/herald/internal/wswrite"

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

// wsConn is what a session needs of its WebSocket connection: the socket (writes go
// to it directly, see internal/wswrite) and the close handshake. A *gws.Conn is one,
// read by gws's loop; an *epollConn, read by the epoll reader, is the other.
type wsConn interface {
	NetConn() net.Conn
	WriteClose(code uint16, reason []byte) error
}

var _ wsConn = (*gws.Conn)(nil)

// epollConn is a WebSocket that Herald upgraded itself for the epoll reader: a socket
// and a flag, instead of a gws connection and its read buffer.
type epollConn struct {
	nc      net.Conn
	timeout time.Duration // for the close frame's write
	closed  atomic.Bool
}

func (c *epollConn) NetConn() net.Conn { return c.nc }

// WriteClose sends a close frame with code and reason (cut to the 123 bytes a close
// frame allows) and closes the socket, once.
func (c *epollConn) WriteClose(code uint16, reason []byte) error {
	if !c.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	if len(reason) > 123 {
		reason = reason[:123]
	}
	f := make([]byte, 0, 4+len(reason))
	f = append(f, 0x88, byte(2+len(reason)), byte(code>>8), byte(code))
	f = append(f, reason...)
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.nc.Write(f)
	_ = c.nc.Close()
	return err
}

// writeDirect writes f to a connection no session writes to yet (a probe during an
// upgrade), bypassing the queue.
func writeDirect(c wsConn, f *Frame) error {
	if gc, ok := c.(*gws.Conn); ok {
		op := gws.OpcodeText
		if f.binary {
			op = gws.OpcodeBinary
		}
		if f.buf[0]&0x0f == 0xA {
			return gc.WritePong(f.Data())
		}
		return gc.WriteMessage(op, f.Data())
	}
	nc := c.NetConn()
	_ = nc.SetWriteDeadline(time.Now().Add(c.(*epollConn).timeout))
	_, err := nc.Write(f.Bytes())
	_ = nc.SetWriteDeadline(time.Time{})
	return err
}

// wsGUID is RFC 6455's key suffix for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// handshakeEpoll answers a WebSocket handshake for the epoll reader: the upgrade is
// checked and answered here, and the session is read from the epoll loop. A client
// that sent bytes before the answer, or a connection without a descriptor, goes to
// gws instead (it keeps those bytes, and reads without a descriptor).
//
// The answer and the session's open packet go out in one write (one system call here
// and one read for the client), before the session exists for anything that could
// queue a frame to it.
func (s *Server) handshakeEpoll(w http.ResponseWriter, r *http.Request) {
	sid := base64id.New()
	conn, fallback := s.upgradeEpoll(w, r, s.openFrame(sid, "[]"))
	switch {
	case fallback != nil:
		s.openWebSocket(fallback, r)
	case conn != nil:
		s.openEpoll(conn, sid, r)
	}
}

// openEpoll opens the session sid on conn, already answered with its open packet,
// and hands it to the epoll reader.
func (s *Server) openEpoll(conn *epollConn, sid string, r *http.Request) {
	sess := s.newSessionID(sid, r, kindWebSocket, conn)
	s.openedWebSocket(sess, r)
	if !s.epoll.add(sess, conn) {
		sess.cut() // only when Shutdown has begun
		return
	}
	s.afterOpen(sess)
}

// upgradeEpoll answers a WebSocket upgrade itself, with first (if not nil) right
// behind the answer in the same write, and returns the connection for the epoll
// reader; or, for a client that sent bytes before the answer or a socket without a
// descriptor, a gws connection (fallback) that keeps those bytes and has been sent
// only gws's answer; or neither when the request was refused or the connection failed
// (answered or closed).
func (s *Server) upgradeEpoll(w http.ResponseWriter, r *http.Request, first *Frame) (conn *epollConn, fallback *gws.Conn) {
	accept, ok := wsAccept(r)
	if !ok {
		http.Error(w, "bad WebSocket handshake", http.StatusBadRequest)
		return nil, nil
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "websocket: response does not implement http.Hijacker", http.StatusInternalServerError)
		return nil, nil
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil
	}
	if brw.Reader.Buffered() > 0 || wswrite.RawConn(nc) == nil {
		gc, err := s.upgrader.UpgradeFromConn(nc, brw.Reader, r)
		if err != nil {
			_ = nc.Close()
			return nil, nil
		}
		return nil, gc
	}
	return s.answerUpgrade(nc, accept, first), nil
}

// wsAccept checks r as a WebSocket handshake (RFC 6455 §4.2.1) and returns the
// Sec-WebSocket-Accept value that answers it.
func wsAccept(r *http.Request) (accept []byte, ok bool) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if r.Method != http.MethodGet || !headerHasToken(r.Header, "Connection", "upgrade") ||
		r.Header.Get("Sec-WebSocket-Version") != "13" || len(key) != 24 {
		return nil, false
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.AppendEncode(make([]byte, 0, 28), sum[:]), true
}

// answerUpgrade writes the 101 answer to nc with first (if not nil) behind it in the
// same write, and returns the connection for the epoll reader; nil (nc closed) when
// the write failed.
func (s *Server) answerUpgrade(nc net.Conn, accept []byte, first *Frame) *epollConn {
	const head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
	var b wswrite.Batch
	answer := make([]byte, 0, len(head)+len(accept)+4)
	answer = append(append(append(answer, head...), accept...), "\r\n\r\n"...)
	b.Add(answer)
	if first != nil {
		b.Add(first.Bytes())
	}
	// A new socket's buffer takes this at once; the blocking write is for the odd case.
	if done, err := b.TryWrite(wswrite.RawConn(nc)); err != nil || !done && b.Write(nc, s.cfg.WriteTimeout) != nil {
		_ = nc.Close()
		return nil
	}
	return &epollConn{nc: nc, timeout: s.cfg.WriteTimeout}
}

// headerHasToken reports whether a comma-separated header lists token
// (case-insensitive), e.g. "Connection: keep-alive, Upgrade".
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
