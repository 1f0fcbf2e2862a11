package socketio

import (
	"github.com/heraldhq/herald/engineio"
	"github.com/heraldhq/herald/internal/jsonstr"
)

// message is one event or ack encoded once, for each wire format a recipient uses:
// the Socket.IO packet (shared by WebSocket and polling sessions) and the plain
// WebSocket JSON envelope. Each format is built on first use, so a broadcast that
// reaches only Socket.IO clients never builds the envelope. A message is built and
// read by one goroutine (the emitter's); the frames it returns are immutable.
type message struct {
	kind  PacketType // PacketEvent or PacketAck
	nsp   string
	event string // the event name; for an ack, the event being answered (plain envelope)
	hasID bool
	id    uint64
	args  encodedArgs
	sio   []*engineio.Frame
	plain *engineio.Frame
}

// sioFrames returns the Socket.IO packet followed by its binary attachments.
func (m *message) sioFrames() []*engineio.Frame {
	if m.sio != nil {
		return m.sio
	}
	t := m.kind
	if len(m.args.atts) > 0 {
		t += PacketBinaryEvent - PacketEvent // EVENT→BINARY_EVENT, ACK→BINARY_ACK
	}
	b := engineio.BeginMessage(len(m.nsp) + len(m.event) + len(m.args.json) + 16)
	b = AppendHeader(b, t, len(m.args.atts), m.nsp, m.hasID, m.id)
	b = append(b, '[')
	if m.kind == PacketEvent {
		b = jsonstr.AppendString(b, m.event)
		if m.args.count > 0 {
			b = append(b, ',')
		}
	}
	b = append(b, m.args.json...)
	b = append(b, ']')
	frames := make([]*engineio.Frame, 0, 1+len(m.args.atts))
	frames = append(frames, engineio.FinishFrame(b, false))
	for _, a := range m.args.atts {
		frames = append(frames, engineio.NewBinaryFrame(a))
	}
	m.sio = frames
	return frames
}

// plainFrame returns the NestJS WsAdapter envelope {"event":name,"data":value}: no
// argument omits data (as JSON.stringify drops undefined), one argument is the data,
// several are sent as an array. Binary arguments appear as their placeholders.
func (m *message) plainFrame() *engineio.Frame {
	if m.plain != nil {
		return m.plain
	}
	b := engineio.BeginFrame(len(m.event) + len(m.args.json) + 24)
	b = append(b, `{"event":`...)
	b = jsonstr.AppendString(b, m.event)
	switch m.args.count {
	case 0:
	case 1:
		b = append(b, `,"data":`...)
		b = append(b, m.args.json...)
	default:
		b = append(b, `,"data":[`...)
		b = append(b, m.args.json...)
		b = append(b, ']')
	}
	b = append(b, '}')
	m.plain = engineio.FinishFrame(b, false)
	return m.plain
}
