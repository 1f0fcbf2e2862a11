package socketio

import (
	"bytes"
	"context"
	"github.com/heraldhq/herald/internal/jsonstr"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/heraldhq/herald/engineio"
)

// client is the Socket.IO side of one Engine.IO session: the sockets it connected to
// namespaces and the binary packet being reassembled.
type client struct {
	srv  *Server
	sess *engineio.Session

	mu      sync.Mutex // guards sockets and timer
	sockets []*Socket  // one per connected namespace; usually one
	timer   *time.Timer

	// pending is a binary packet waiting for its attachments. Only onMessage touches
	// these, and engineio never runs two onMessage calls of a session at once.
	pending     *Packet
	pendingAtts [][]byte
}

func (c *client) onConnectTimeout() {
	c.mu.Lock()
	idle := len(c.sockets) == 0 && c.timer != nil
	c.mu.Unlock()
	if idle {
		c.srv.log.Info("socketio: no namespace joined before the connect timeout", "sid", c.sess.ID())
		c.sess.Close()
	}
}

func (c *client) onMessage(data []byte, binary bool) {
	if binary {
		if c.pending == nil {
			c.protocolError("unexpected binary attachment", nil)
			return
		}
		c.pendingAtts = append(c.pendingAtts, bytes.Clone(data))
		if len(c.pendingAtts) == c.pending.Attachments {
			p, atts := c.pending, c.pendingAtts
			c.pending, c.pendingAtts = nil, nil
			c.dispatch(p, atts)
		}
		return
	}
	if c.pending != nil {
		c.protocolError("text packet while attachments were expected", nil)
		return
	}
	// Handlers may keep the packet's arguments past this call (in a goroutine, say);
	// the engine reuses data, so take one copy here.
	p, err := Decode(bytes.Clone(data), c.srv.cfg.MaxAttachments)
	if err != nil {
		c.protocolError("bad packet", err)
		return
	}
	if (p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck) && p.Attachments > 0 {
		c.pending = &p
		return
	}
	c.dispatch(&p, nil)
}

// protocolError closes the connection, as socket.io does on a decoding error
// (client.ts onerror).
func (c *client) protocolError(msg string, err error) {
	if c.srv.log.Enabled(context.Background(), slog.LevelInfo) {
		attrs := []slog.Attr{slog.String("sid", c.sess.ID())}
		if err != nil {
			attrs = append(attrs, slog.String("err", err.Error()))
		}
		c.srv.log.LogAttrs(context.Background(), slog.LevelInfo, "socketio: "+msg+", closing", attrs...)
	}
	c.sess.CloseWithReason(engineio.ReasonParseError)
}

func (c *client) socket(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

func (c *client) dispatch(p *Packet, atts [][]byte) {
	if p.Type == PacketConnect {
		c.connect(p)
		return
	}
	s := c.socket(p.Namespace)
	if s == nil {
		if p.Type == PacketDisconnect {
			return
		}
		c.protocolError("packet for a namespace the client has not joined", nil)
		return
	}
	switch p.Type {
	case PacketDisconnect:
		s.HandleClose(ReasonClientNamespaceDisconnect)
	case PacketEvent, PacketBinaryEvent:
		name, args, err := splitEvent(p.Data)
		if err != nil {
			c.protocolError("bad event", err)
			return
		}
		s.HandleEvent(name, Args{Raw: args, Attachments: atts}, p.HasID, p.ID)
	case PacketAck, PacketBinaryAck:
		s.onAck(p, atts)
	default: // CONNECT_ERROR comes only from servers
		c.protocolError("invalid packet type from client", nil)
	}
}

// connect handles a CONNECT packet (socket.io client.ts connect, namespace.ts _add).
func (c *client) connect(p *Packet) {
	n := c.srv.Namespace(p.Namespace)
	if n == nil {
		c.sendConnectError(p.Namespace, &ConnectError{Message: "Invalid namespace"})
		return
	}
	if c.socket(p.Namespace) != nil {
		c.protocolError("second CONNECT for a joined namespace", nil)
		return
	}
	hs := &Handshake{Handshake: c.sess.Handshake(), Auth: p.Data}
	s, err := n.newSocket(c.sess, c, hs, false)
	if err != nil {
		c.sendConnectError(p.Namespace, err)
		return
	}
	c.mu.Lock()
	c.sockets = append(c.sockets, s)
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.mu.Unlock()
	n.register(s)
	b := AppendHeader([]byte{byte(engineio.PacketMessage)}, PacketConnect, 0, n.name, false, 0)
	b = append(b, `{"sid":`...)
	b = jsonstr.AppendString(b, s.id)
	b = append(b, '}')
	_ = c.sess.Send(engineio.NewFrame(b))
	n.connected(s)
}

func (c *client) sendConnectError(nsp string, err error) {
	ce, ok := err.(*ConnectError)
	if !ok {
		ce = &ConnectError{Message: err.Error()}
	}
	b := AppendHeader([]byte{byte(engineio.PacketMessage)}, PacketConnectError, 0, nsp, false, 0)
	b = append(b, `{"message":`...)
	b = jsonstr.AppendString(b, ce.Message)
	if ce.Data != nil {
		b = append(b, `,"data":`...)
		var merr error
		if b, merr = appendMarshal(b, ce.Data); merr != nil {
			b = append(b, "null"...)
		}
	}
	b = append(b, '}')
	_ = c.sess.Send(engineio.NewFrame(b))
}

func (c *client) removeSocket(s *Socket) {
	c.mu.Lock()
	if i := slices.Index(c.sockets, s); i >= 0 {
		c.sockets = slices.Delete(c.sockets, i, i+1)
	}
	c.mu.Unlock()
}

// disconnectAll disconnects every namespace and closes the connection (socket.io
// client.ts _disconnect).
func (c *client) disconnectAll() {
	c.mu.Lock()
	sockets := slices.Clone(c.sockets)
	c.mu.Unlock()
	for _, s := range sockets {
		s.Disconnect(false)
	}
	c.sess.Close()
}

func (c *client) onClose(reason string) {
	c.mu.Lock()
	sockets := slices.Clone(c.sockets)
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.mu.Unlock()
	for _, s := range sockets {
		s.HandleClose(reason)
	}
}
