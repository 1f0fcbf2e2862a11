package engineio

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
)

// PacketType is an Engine.IO v4 packet type: the first character of a text packet.
type PacketType byte

// Engine.IO v4 packet types (engine.io-protocol README, "Packet encoding").
const (
	PacketOpen    PacketType = '0'
	PacketClose   PacketType = '1'
	PacketPing    PacketType = '2'
	PacketPong    PacketType = '3'
	PacketMessage PacketType = '4'
	PacketUpgrade PacketType = '5'
	PacketNoop    PacketType = '6'
)

// recordSeparator joins packets in a long-polling payload (Engine.IO v4, "Payload").
const recordSeparator = 0x1e

// Errors returned by the decoders. They are wrapped with a snippet of the input.
var (
	ErrEmptyPacket   = errors.New("engineio: empty packet")
	ErrUnknownType   = errors.New("engineio: unknown packet type")
	ErrBadBase64     = errors.New("engineio: invalid base64 in binary packet")
	ErrPayloadTooBig = errors.New("engineio: payload too large")
)

// Packet is one decoded Engine.IO packet. Data aliases the decoder's input except for
// base64 binary packets, whose bytes are freshly decoded.
type Packet struct {
	Type   PacketType
	Binary bool // a binary message (raw WebSocket binary frame, or "b"+base64 on polling)
	Data   []byte
}

// DecodePacket decodes one text packet: a type digit followed by its data
// (engine.io-parser decodePacket). A leading 'b' is a base64 binary message, as polling
// carries binary. It never panics; any malformed input gives an error.
func DecodePacket(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, ErrEmptyPacket
	}
	t := b[0]
	if t == 'b' {
		raw := make([]byte, base64.StdEncoding.DecodedLen(len(b)-1))
		n, err := base64.StdEncoding.Decode(raw, b[1:])
		if err != nil {
			return Packet{}, fmt.Errorf("%w: %s", ErrBadBase64, snippet(b))
		}
		return Packet{Type: PacketMessage, Binary: true, Data: raw[:n]}, nil
	}
	if t < byte(PacketOpen) || t > byte(PacketNoop) {
		return Packet{}, fmt.Errorf("%w: %s", ErrUnknownType, snippet(b))
	}
	return Packet{Type: PacketType(t), Data: b[1:]}, nil
}

// DecodePayload splits a long-polling body on the record separator and decodes each
// packet, calling fn in order. It stops at the first malformed packet and returns its
// error (engine.io-parser decodePayload stops at the first error too).
func DecodePayload(body []byte, fn func(Packet) error) error {
	for start := 0; start <= len(body); {
		end := start
		for end < len(body) && body[end] != recordSeparator {
			end++
		}
		p, err := DecodePacket(body[start:end])
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		start = end + 1
	}
	return nil
}

// AppendPollingPacket appends one packet as it travels in a polling payload: text
// packets as they are, binary messages as 'b' + base64.
func AppendPollingPacket(dst []byte, text bool, data []byte) []byte {
	if text {
		return append(dst, data...)
	}
	dst = append(dst, 'b')
	return base64.StdEncoding.AppendEncode(dst, data)
}

// snippet quotes at most 32 bytes of input for an error message.
func snippet(b []byte) string {
	const max = 32
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}
