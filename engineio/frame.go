package engineio

import (
	"encoding/binary"
)

// Frame is one Engine.IO packet encoded once and ready for either transport: the bytes
// are a complete unmasked server WebSocket frame (RFC 6455 §5.2), and the same bytes
// after the frame header are the packet as a polling payload carries it. A Frame is
// immutable once built, so a broadcast shares one Frame among all its recipients.
//
// Herald writes frames itself, rather than through gws's WriteMessage, because gws
// writes one frame per syscall and has no way to send several prebuilt frames in one
// writev; coalescing a socket's backlog into one write is what keeps broadcast cost
// per delivery low (see BENCHMARKS.md).
type Frame struct {
	buf    []byte // header + data
	hdr    uint8  // length of the WebSocket header at the front of buf
	binary bool   // binary message (opcode 2, 'b'+base64 on polling)
}

// headroom is the largest server frame header: 2 bytes + 8 bytes of extended length.
const headroom = 10

// BeginFrame returns a buffer with room for the WebSocket header, ready for the packet's
// bytes to be appended. capacity is a size hint for the packet. Finish it with
// FinishFrame.
func BeginFrame(capacity int) []byte {
	b := make([]byte, headroom, headroom+capacity)
	return b
}

// BeginMessage is BeginFrame followed by the Engine.IO message type '4'.
func BeginMessage(capacity int) []byte {
	return append(BeginFrame(capacity+1), byte(PacketMessage))
}

// FinishFrame writes the WebSocket header in front of the packet built in b (returned
// by BeginFrame or BeginMessage and appended to) and returns the Frame.
func FinishFrame(b []byte, binaryMsg bool) *Frame {
	n := len(b) - headroom
	opcode := byte(0x1) // text
	if binaryMsg {
		opcode = 0x2
	}
	var hdr [headroom]byte
	hdr[0] = 0x80 | opcode // FIN
	hl := 2
	switch {
	case n <= 125:
		hdr[1] = byte(n)
	case n <= 0xffff:
		hdr[1] = 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
		hl = 4
	default:
		hdr[1] = 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
		hl = 10
	}
	start := headroom - hl
	copy(b[start:headroom], hdr[:hl])
	return &Frame{buf: b[start:], hdr: uint8(hl), binary: binaryMsg}
}

// NewFrame builds a frame from a complete text packet (type digit included).
func NewFrame(packet []byte) *Frame {
	return FinishFrame(append(BeginFrame(len(packet)), packet...), false)
}

// NewBinaryFrame builds a binary message frame from raw bytes.
func NewBinaryFrame(data []byte) *Frame {
	return FinishFrame(append(BeginFrame(len(data)), data...), true)
}

// Data returns the packet bytes without the WebSocket header. For a text frame they
// start with the Engine.IO type digit; for a binary frame they are the raw message.
func (f *Frame) Data() []byte { return f.buf[f.hdr:] }

// Binary reports whether f is a binary message.
func (f *Frame) Binary() bool { return f.binary }

// Len is the frame's size on a WebSocket.
func (f *Frame) Len() int { return len(f.buf) }

// Bytes returns the whole WebSocket frame, header included, as written to the wire.
// The caller must not modify it.
func (f *Frame) Bytes() []byte { return f.buf }

// WithOpcode returns a copy of f with another WebSocket opcode (e.g. 0x9 for a ping
// control frame). The packet bytes are shared.
func (f *Frame) WithOpcode(op byte) *Frame {
	buf := make([]byte, len(f.buf))
	copy(buf, f.buf)
	buf[0] = 0x80 | op
	return &Frame{buf: buf, hdr: f.hdr, binary: op == 0x2}
}
