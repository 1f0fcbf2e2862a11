// Package wsframe parses the WebSocket frames a client sends to a server (RFC 6455
// section 5), or, with Parser.FromServer, the frames a server sends to a client; and
// it builds the masked frames a client sends (AppendMaskedFrame).
//
// It is made for a reader without a goroutine per connection: a worker reads whatever
// the socket holds into a scratch buffer and passes it to Parser.Feed. Complete frames
// are handled in that buffer, unmasked in place, without copying or allocating. The
// Parser copies only what it must keep: the bytes of a frame cut off at the end of the
// buffer, and the fragments of a message not yet complete. It releases both once they
// are used, so an idle Parser holds no buffer at all.
//
// Extensions are not supported: a frame with a reserved bit set is an error. Extended
// payload lengths that are not minimally encoded (a 16-bit length below 126, a 64-bit
// length below 65536) are accepted.
package wsframe

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// Opcode is the type of a frame.
type Opcode byte

// The opcodes of RFC 6455.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// Close codes of the errors Feed returns.
const (
	codeProtocolError = 1002 // a frame breaks the protocol
	codeInvalidData   = 1007 // a text message is not valid UTF-8
	codeTooBig        = 1009 // a message is larger than MaxPayload
)

// CloseError is a protocol violation. Code is the WebSocket close code to send
// (1002 protocol error, 1007 invalid UTF-8 in a text message, 1009 message too big).
type CloseError struct {
	Code   uint16
	Reason string
}

// Error returns the reason and the close code.
func (e *CloseError) Error() string {
	return "wsframe: " + e.Reason + " (close code " + strconv.Itoa(int(e.Code)) + ")"
}

func protocolError(reason string) *CloseError {
	return &CloseError{Code: codeProtocolError, Reason: reason}
}

const (
	maxInt         = int(^uint(0) >> 1)
	maxHeader      = 14  // 2 bytes, a 64-bit length and the mask key
	maxControl     = 125 // the largest control frame payload
	minPartial     = 256 // the smallest buffer allocated for a partial frame
	finBit         = 0x80
	rsvBits        = 0x70
	opcodeBits     = 0x0F
	maskBit        = 0x80
	lengthBits     = 0x7F
	length16       = 126
	length64       = 127
	controlOpcodes = 0x8
)

// Parser parses the frames of one connection. The zero Parser is ready to use once
// MaxPayload is set. A Parser is not safe for concurrent use.
type Parser struct {
	// MaxPayload is the largest message (after reassembling fragments) or control
	// frame payload accepted, in bytes. 0 means no limit other than the size of int.
	MaxPayload int

	// FromServer makes the Parser read the frames a server sends to a client (the
	// reading side of a client): they must not be masked, so a masked frame is a
	// protocol error (close code 1002, RFC 6455 section 5.1), headers carry no mask
	// key, and payloads are handed over as they are. When false (the zero value) it
	// reads a client's frames, which must be masked. Set it before the first Feed.
	FromServer bool

	partial []byte      // the bytes of an incomplete frame, kept between Feeds
	frag    []byte      // the payload of a fragmented message so far
	fragOp  Opcode      // the opcode of that message (OpText or OpBinary); 0 if none
	err     *CloseError // the error returned, returned again by later Feeds
}

// header is a parsed frame header.
type header struct {
	op   Opcode
	fin  bool
	hlen int    // header length, mask key included
	n    int    // payload length
	key  uint32 // mask key, little-endian
}

// Feed parses data (which it may modify: payloads are unmasked in place) and calls
// h once per complete message (OpText or OpBinary, fragments reassembled) and per
// control frame (OpClose, OpPing, OpPong), in order. payload is valid only during the
// call. If h returns false, Feed stops and returns nil (the caller is closing); the
// rest of data is dropped. An error is a *CloseError; after it the Parser must not be
// fed again (a later Feed returns the same error).
func (p *Parser) Feed(data []byte, h func(op Opcode, payload []byte) bool) error {
	if p.err != nil {
		return p.err
	}
	if len(p.partial) > 0 {
		hd, rest, err := p.fill(data)
		if err != nil {
			return p.fail(err)
		}
		if hd.hlen == 0 {
			return nil // the frame is still incomplete
		}
		data = rest
		frame := p.partial
		p.partial = nil
		more, err := p.frame(hd, frame[hd.hlen:], h)
		if err != nil {
			return p.fail(err)
		}
		if !more {
			return nil
		}
	}
	for len(data) > 0 {
		hd, err := p.header(data)
		if err != nil {
			return p.fail(err)
		}
		if hd.hlen > len(data) || hd.n > len(data)-hd.hlen {
			total := 0
			if hd.hlen <= len(data) {
				total = hd.hlen + hd.n
			}
			p.keep(data, total)
			return nil
		}
		end := hd.hlen + hd.n
		more, err := p.frame(hd, data[hd.hlen:end], h)
		if err != nil {
			return p.fail(err)
		}
		if !more {
			return nil
		}
		data = data[end:]
	}
	return nil
}

// Pending returns the number of bytes the parser holds between Feeds (an incomplete
// frame plus reassembled fragments).
func (p *Parser) Pending() int {
	return len(p.partial) + len(p.frag)
}

// fail records err, drops what the parser holds, and returns err.
func (p *Parser) fail(err *CloseError) error {
	p.err = err
	p.partial, p.frag, p.fragOp = nil, nil, 0
	return err
}

// fill moves bytes from the front of data to p.partial until it holds a whole frame
// or data is used up, and returns the rest of data. hd is the frame's header when it
// is complete; hd.hlen is 0 otherwise.
func (p *Parser) fill(data []byte) (hd header, rest []byte, err *CloseError) {
	for {
		hd, err := p.header(p.partial)
		if err != nil {
			return header{}, nil, err
		}
		want, total := hd.hlen, 0 // bytes wanted in partial; the frame size if known
		if hd.hlen <= len(p.partial) {
			want = hd.hlen + hd.n
			total = want
			if len(p.partial) == want {
				return hd, data, nil
			}
		}
		if len(data) == 0 {
			return header{}, nil, nil
		}
		k := min(want-len(p.partial), len(data))
		p.keep(data[:k], total)
		data = data[k:]
	}
}

// keep appends b to p.partial, the start of a frame of total bytes (0 if unknown).
// The buffer grows with the bytes received, never to a size a header merely claims.
func (p *Parser) keep(b []byte, total int) {
	need := len(p.partial) + len(b)
	if need > cap(p.partial) {
		c := max(need, 2*cap(p.partial), minPartial)
		if total > 0 {
			c = min(c, total)
		}
		buf := make([]byte, len(p.partial), c)
		copy(buf, p.partial)
		p.partial = buf
	}
	p.partial = append(p.partial, b...)
}

// header parses and checks the frame header at the start of b. If b does not hold
// the whole header, hd.hlen is the header length (or 2, if b holds less than 2 bytes)
// and the other fields are unset; the checks that the bytes in b allow are made.
func (p *Parser) header(b []byte) (hd header, err *CloseError) {
	if len(b) < 2 {
		return header{hlen: 2}, nil
	}
	b0, b1 := b[0], b[1]
	hd.op = Opcode(b0 & opcodeBits)
	hd.fin = b0&finBit != 0
	n7 := int(b1 & lengthBits)
	switch {
	case b0&rsvBits != 0:
		return hd, protocolError("reserved bits set")
	case b1&maskBit == 0 && !p.FromServer:
		return hd, protocolError("unmasked frame")
	case b1&maskBit != 0 && p.FromServer:
		return hd, protocolError("masked frame from a server")
	}
	switch hd.op {
	case OpClose, OpPing, OpPong:
		if !hd.fin {
			return hd, protocolError("fragmented control frame")
		}
		if n7 > maxControl {
			return hd, protocolError("control frame too long")
		}
	case OpContinuation:
		if p.fragOp == 0 {
			return hd, protocolError("continuation frame without a message")
		}
	case OpText, OpBinary:
		if p.fragOp != 0 {
			return hd, protocolError("new message before the last one ended")
		}
	default:
		return hd, protocolError("unknown opcode")
	}
	keyLen := 4 // the mask key; a server's frames have none
	if p.FromServer {
		keyLen = 0
	}
	var n uint64
	switch n7 {
	case length16:
		hd.hlen = 2 + 2 + keyLen
		if len(b) < hd.hlen {
			return header{hlen: hd.hlen}, nil
		}
		n = uint64(binary.BigEndian.Uint16(b[2:]))
	case length64:
		hd.hlen = 2 + 8 + keyLen
		if len(b) < hd.hlen {
			return header{hlen: hd.hlen}, nil
		}
		n = binary.BigEndian.Uint64(b[2:])
		if n>>63 != 0 {
			return hd, protocolError("invalid payload length")
		}
	default:
		hd.hlen = 2 + keyLen
		if len(b) < hd.hlen {
			return header{hlen: hd.hlen}, nil
		}
		n = uint64(n7)
	}
	if keyLen > 0 {
		hd.key = binary.LittleEndian.Uint32(b[hd.hlen-4:])
	}
	// The message size: the payload plus the fragments before it. It must fit an int
	// (with the header), and MaxPayload.
	have := 0
	if hd.op == OpContinuation {
		have = len(p.frag)
	}
	if n > uint64(maxInt-maxHeader-have) {
		return hd, &CloseError{Code: codeTooBig, Reason: "message too big"}
	}
	hd.n = int(n)
	if p.MaxPayload > 0 && have+hd.n > p.MaxPayload {
		return hd, &CloseError{Code: codeTooBig, Reason: "message too big"}
	}
	return hd, nil
}

// frame handles a complete frame with header hd and the payload (masked unless
// FromServer).
func (p *Parser) frame(hd header, payload []byte, h func(Opcode, []byte) bool) (more bool, err *CloseError) {
	if !p.FromServer {
		unmask(payload, hd.key)
	}
	if hd.op >= controlOpcodes {
		if hd.op == OpClose && len(payload) == 1 {
			return false, protocolError("close frame payload of 1 byte")
		}
		return h(hd.op, payload), nil
	}
	if hd.fin && p.fragOp == 0 { // a whole message in one frame
		if hd.op == OpText && !utf8.Valid(payload) {
			return false, &CloseError{Code: codeInvalidData, Reason: "invalid UTF-8 in text message"}
		}
		return h(hd.op, payload), nil
	}
	if p.fragOp == 0 {
		p.fragOp = hd.op
	}
	p.frag = append(p.frag, payload...)
	if !hd.fin {
		return true, nil
	}
	op, msg := p.fragOp, p.frag
	p.frag, p.fragOp = nil, 0
	if op == OpText && !utf8.Valid(msg) {
		return false, &CloseError{Code: codeInvalidData, Reason: "invalid UTF-8 in text message"}
	}
	return h(op, msg), nil
}

// unmask applies the mask key (little-endian) to b, which starts at payload offset 0.
func unmask(b []byte, key uint32) {
	k := uint64(key)<<32 | uint64(key)
	for len(b) >= 32 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		binary.LittleEndian.PutUint64(b[8:], binary.LittleEndian.Uint64(b[8:])^k)
		binary.LittleEndian.PutUint64(b[16:], binary.LittleEndian.Uint64(b[16:])^k)
		binary.LittleEndian.PutUint64(b[24:], binary.LittleEndian.Uint64(b[24:])^k)
		b = b[32:]
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= byte(key >> (8 * (i & 3)))
	}
}

// AppendMaskedFrame appends to dst one final (FIN) frame of opcode op carrying
// payload, masked with key as a client must mask every frame it sends (RFC 6455
// section 5.3; key should be fresh random bytes for each frame). It uses the shortest
// length encoding. Control frames (OpClose, OpPing, OpPong) must not carry more than
// 125 bytes; AppendMaskedFrame does not check.
func AppendMaskedFrame[T ~string | ~[]byte](dst []byte, op Opcode, payload T, key [4]byte) []byte {
	n := len(payload)
	dst = append(dst, finBit|byte(op))
	switch {
	case n > 0xFFFF:
		dst = append(dst, maskBit|length64)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	case n > maxControl:
		dst = append(dst, maskBit|length16)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, maskBit|byte(n))
	}
	dst = append(dst, key[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	unmask(dst[start:], binary.LittleEndian.Uint32(key[:])) // masking and unmasking are the same XOR
	return dst
}
