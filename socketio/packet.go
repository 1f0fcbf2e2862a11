package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// PacketType is a Socket.IO v5 packet type (socket.io-protocol, "Packet types").
type PacketType byte

// Socket.IO v5 packet types.
const (
	PacketConnect PacketType = iota
	PacketDisconnect
	PacketEvent
	PacketAck
	PacketConnectError
	PacketBinaryEvent
	PacketBinaryAck
)

// DefaultMaxAttachments is socket.io-parser 4.2's default limit on binary attachments.
const DefaultMaxAttachments = 10

// Decoding errors. Decode wraps them with a short quote of the input.
var (
	ErrEmptyPacket        = errors.New("socketio: empty packet")
	ErrUnknownPacketType  = errors.New("socketio: unknown packet type")
	ErrIllegalAttachments = errors.New("socketio: illegal attachments")
	ErrTooManyAttachments = errors.New("socketio: too many attachments")
	ErrInvalidPayload     = errors.New("socketio: invalid payload")
)

// Packet is one decoded Socket.IO packet. Data is the raw JSON payload, nil when
// absent; it aliases the decoder's input.
type Packet struct {
	Type        PacketType
	Namespace   string // "/" when the packet names none
	HasID       bool
	ID          uint64 // the ack id, when HasID
	Attachments int    // number of binary attachments that follow (binary types only)
	Data        json.RawMessage
}

// reservedEvents are the event names a client may not emit (socket.io-parser
// RESERVED_EVENTS; isPayloadValid refuses them).
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true, "disconnecting": true,
	"newListener": true, "removeListener": true,
}

// Decode parses one Socket.IO packet from the data of an Engine.IO message, following
// socket.io-parser's Decoder.decodeString: type digit, attachment count and '-' for
// binary types, "/nsp," (the comma may be missing at the end of input), an ack id, then
// JSON validated per type. maxAttachments bounds the attachment count (0 means
// DefaultMaxAttachments). It never panics.
func Decode(b []byte, maxAttachments int) (Packet, error) {
	if maxAttachments <= 0 {
		maxAttachments = DefaultMaxAttachments
	}
	if len(b) == 0 {
		return Packet{}, ErrEmptyPacket
	}
	p := Packet{Namespace: "/"}
	if b[0] < '0' || b[0] > '6' {
		return Packet{}, fmt.Errorf("%w: %s", ErrUnknownPacketType, quote(b))
	}
	p.Type = PacketType(b[0] - '0')
	i := 1
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start || i >= len(b) || b[i] != '-' || i-start > 3 {
			return Packet{}, fmt.Errorf("%w: %s", ErrIllegalAttachments, quote(b))
		}
		n, _ := strconv.Atoi(string(b[start:i]))
		if n > maxAttachments {
			return Packet{}, fmt.Errorf("%w: %d > %d", ErrTooManyAttachments, n, maxAttachments)
		}
		p.Attachments = n
		i++ // '-'
	}
	if i < len(b) && b[i] == '/' {
		start := i
		for i < len(b) && b[i] != ',' {
			i++
		}
		p.Namespace = string(b[start:i])
		if i < len(b) {
			i++ // ','
		}
	}
	if i < len(b) && b[i] >= '0' && b[i] <= '9' {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		id, err := strconv.ParseUint(string(b[start:i]), 10, 53) // a JS number stays exact
		if err != nil {
			return Packet{}, fmt.Errorf("%w: bad ack id %s", ErrInvalidPayload, quote(b))
		}
		p.HasID, p.ID = true, id
	}
	if i < len(b) {
		p.Data = json.RawMessage(b[i:])
	}
	if err := validPayload(&p); err != nil {
		return Packet{}, fmt.Errorf("%w: %s", err, quote(b))
	}
	return p, nil
}

// validPayload applies socket.io-parser's Decoder.isPayloadValid.
func validPayload(p *Packet) error {
	switch p.Type {
	case PacketConnect:
		if p.Data == nil || isJSONKind(p.Data, '{') {
			return nil
		}
	case PacketDisconnect:
		if p.Data == nil {
			return nil
		}
	case PacketConnectError:
		if isJSONKind(p.Data, '{') || isJSONKind(p.Data, '"') {
			return nil
		}
	case PacketEvent, PacketBinaryEvent:
		if _, _, err := splitEvent(p.Data); err == nil {
			return nil
		}
	case PacketAck, PacketBinaryAck:
		if isJSONKind(p.Data, '[') {
			return nil
		}
	}
	return ErrInvalidPayload
}

// isJSONKind reports whether data is one valid JSON value that starts with c.
func isJSONKind(data []byte, c byte) bool {
	return len(data) > 0 && data[0] == c && json.Valid(data)
}

// splitEvent splits an EVENT payload into the event name and its arguments. The name
// is a string that is not reserved, or a number (kept as its JSON text).
func splitEvent(data []byte) (string, []json.RawMessage, error) {
	if len(data) == 0 || data[0] != '[' {
		return "", nil, ErrInvalidPayload
	}
	var all []json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil || len(all) == 0 {
		return "", nil, ErrInvalidPayload
	}
	first := all[0]
	var name string
	switch {
	case len(first) > 0 && first[0] == '"':
		if err := json.Unmarshal(first, &name); err != nil || reservedEvents[name] {
			return "", nil, ErrInvalidPayload
		}
	case len(first) > 0 && (first[0] == '-' || (first[0] >= '0' && first[0] <= '9')):
		name = string(first)
	default:
		return "", nil, ErrInvalidPayload
	}
	return name, all[1:], nil
}

// splitArray splits an ACK payload into its elements.
func splitArray(data []byte) ([]json.RawMessage, error) {
	var all []json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, ErrInvalidPayload
	}
	return all, nil
}

// AppendHeader appends a packet's header — type, attachment count, namespace and ack
// id — in socket.io-parser's Encoder.encodeAsString order. The JSON payload follows.
func AppendHeader(dst []byte, t PacketType, attachments int, nsp string, hasID bool, id uint64) []byte {
	dst = append(dst, '0'+byte(t))
	if t == PacketBinaryEvent || t == PacketBinaryAck {
		dst = strconv.AppendInt(dst, int64(attachments), 10)
		dst = append(dst, '-')
	}
	if nsp != "" && nsp != "/" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if hasID {
		dst = strconv.AppendUint(dst, id, 10)
	}
	return dst
}

// Append encodes p (header then Data) onto dst.
func (p *Packet) Append(dst []byte) []byte {
	dst = AppendHeader(dst, p.Type, p.Attachments, p.Namespace, p.HasID, p.ID)
	return append(dst, p.Data...)
}

func quote(b []byte) string {
	const max = 32
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}
