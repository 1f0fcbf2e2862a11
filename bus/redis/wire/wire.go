package wire

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Errors returned by the decoders and encoders. A decoder wraps them with the offset and
// a short quote of the input. Test them with errors.Is.
var (
	ErrMalformed          = errors.New("redis: malformed message")
	ErrTooLarge           = errors.New("redis: message too large")
	ErrTooDeep            = errors.New("redis: value nested too deeply")
	ErrTooManyAttachments = errors.New("redis: too many binary attachments")
	ErrUnsupportedExt     = errors.New("redis: unsupported msgpack extension type")
	ErrPlaceholderInData  = errors.New("redis: object with \"_placeholder\": true in data")
	ErrInvalidPlaceholder = errors.New("redis: placeholder names no attachment")
	ErrInvalidJSON        = errors.New("redis: invalid JSON value")
	ErrUnsupportedPacket  = errors.New("redis: unsupported packet")
	ErrUnknownRequestType = errors.New("redis: unknown request type")
	ErrUnknownRequest     = errors.New("redis: response to an unknown request")
)

// Limits bound what the decoders accept from Redis. Bytes on the bus are untrusted
// input: any client of the Redis server can publish them. A field that is zero or
// negative takes its default (there is no "off": a decoder without bounds could be made
// to exhaust memory or stack).
type Limits struct {
	// MaxSize bounds one message in bytes, and separately the JSON text decoded from
	// it (msgpack can be up to 15 times smaller than the JSON it stands for, for
	// example an empty bin against its placeholder). Default DefaultMaxSize.
	MaxSize int
	// MaxDepth bounds how deeply arrays and maps nest inside one argument. Default
	// DefaultMaxDepth.
	MaxDepth int
	// MaxAttachments bounds the binary values in one message. Default
	// DefaultMaxAttachments.
	MaxAttachments int
}

// Default limits.
const (
	// DefaultMaxSize is 16 MiB. Node's adapter sets no limit; Engine.IO's default
	// maxHttpBufferSize is 1 MB, so a client-sized event fits many times over.
	DefaultMaxSize = 16 << 20
	// DefaultMaxDepth is encoding/json's nesting limit, so whatever JSON Herald accepts
	// from a client can cross the bus and come back.
	DefaultMaxDepth = maxEncodeDepth
	// DefaultMaxAttachments allows far more binary values than socket.io-parser's 10
	// per client packet: server-side broadcasts carry what the server put in them.
	DefaultMaxAttachments = 1000
)

// normalized returns l with defaults filled in.
func (l Limits) normalized() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxAttachments <= 0 {
		l.MaxAttachments = DefaultMaxAttachments
	}
	return l
}

// Broadcast is one message on a broadcast channel: the msgpack array
// [uid, packet, opts] that RedisAdapter.broadcast and the emitter's
// BroadcastOperator.emit publish (lib/index.ts in both packages).
type Broadcast struct {
	// UID is the sending adapter's uid (uid2(6) in Node), "emitter" for the emitter.
	// A receiver drops its own broadcasts by this uid.
	UID    string
	Packet Packet
	Opts   Options
}

// Packet is the Socket.IO packet of a broadcast: always an EVENT (type 2) on the wire;
// socket.io-parser turns it into a BINARY_EVENT for clients when it holds binary.
type Packet struct {
	// Nsp is the namespace, "/" when the sender left it out (the adapter's onmessage
	// does the same). Encoding an empty Nsp writes "/".
	Nsp string
	// Data is [event, ...args]. The event name is a string (a number is also
	// accepted, as socket.io-parser's isPayloadValid does).
	Data Args
}

// Event returns the event name, when it is a JSON string.
func (p *Packet) Event() (string, bool) {
	if len(p.Data.Raw) == 0 {
		return "", false
	}
	raw := p.Data.Raw[0]
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	s, err := unquote(raw)
	return s, err == nil
}

// Options select the receivers of a broadcast: the sockets in any of Rooms (all
// sockets of the namespace when Rooms is empty) and in none of Except.
type Options struct {
	// Rooms and Except are room names. A room that a Node sender gave as a number
	// arrives as its decimal text (String(n) in JavaScript).
	Rooms  []string
	Except []string
	Flags  Flags
}

// Flags are socket.io-adapter's BroadcastFlags. Flags Herald does not know are dropped
// when decoding.
type Flags struct {
	Volatile  bool
	Compress  *bool // nil when absent; false turns compression off
	Local     bool  // never published by Node: a local broadcast stays on its node
	Broadcast bool  // set by socket.io 2 and 3
	Binary    bool  // set by socket.io 2
	// Timeout is the ack timeout of a broadcast with acknowledgements (request type 7),
	// nil when absent. It travels in whole milliseconds.
	Timeout *time.Duration
}

// EncodeBroadcast returns the msgpack of b, as notepack.io writes it for the Node
// adapter: [uid, {type:2, data, nsp}, {rooms, except, flags}], keys in that order,
// rooms and except always arrays, flags without the absent ones.
func EncodeBroadcast(b *Broadcast) ([]byte, error) {
	return AppendBroadcast(nil, b)
}

// AppendBroadcast appends the msgpack of b to dst (see EncodeBroadcast).
func AppendBroadcast(dst []byte, b *Broadcast) ([]byte, error) {
	dst = slices.Grow(dst, sizeHint(&b.Packet.Data)+64) // msgpack is no larger than the JSON
	w := wireBroadcast{
		UID:    b.UID,
		Packet: newWirePacket(&b.Packet),
		Opts:   newWireOptions(&b.Opts),
	}
	return appendMsgpack(dst, &w)
}

// sizeHint is the length of a's JSON and attachments.
func sizeHint(a *Args) int {
	n := 0
	for _, r := range a.Raw {
		n += len(r)
	}
	for _, b := range a.Attachments {
		n += len(b)
	}
	return n
}

// appendMsgpack encodes v after dst with notepack.io's number widths.
func appendMsgpack(dst []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := newEncoder(buf)
	defer msgpack.PutEncoder(enc)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}

// DecodeBroadcast decodes one message from a broadcast channel. It is strict: the
// envelope must be an array whose first three elements are a str uid, the packet map
// and the options map (further elements are ignored, as Node reads only three); the
// packet's type must be 2; data must be a non-empty array. Unknown map keys are
// skipped. The attachments are slices of b.
func DecodeBroadcast(b []byte, lim Limits) (Broadcast, error) {
	lim = lim.normalized()
	if len(b) > lim.MaxSize {
		return Broadcast{}, fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, len(b), lim.MaxSize)
	}
	r := reader{b: b}
	m, err := r.broadcast(&lim)
	if err != nil {
		return Broadcast{}, wrapInput(err, b)
	}
	return m, nil
}

// BroadcastUID returns the uid of a broadcast message without decoding the rest, so a
// node can drop its own messages (which its pattern subscription also delivers) cheaply.
func BroadcastUID(b []byte) (string, error) {
	r := reader{b: b}
	n, err := r.arrayLen()
	if err == nil && n < 3 {
		err = r.errorf("envelope of %d elements", n)
	}
	if err != nil {
		return "", wrapInput(err, b)
	}
	uid, err := r.str()
	if err != nil {
		return "", wrapInput(err, b)
	}
	return uid, nil
}

func (r *reader) broadcast(lim *Limits) (Broadcast, error) {
	var m Broadcast
	n, err := r.arrayLen()
	if err != nil {
		return m, err
	}
	if n < 3 {
		return m, r.errorf("envelope of %d elements, want [uid, packet, opts]", n)
	}
	if m.UID, err = r.str(); err != nil {
		return m, err
	}
	if m.Packet, err = r.packet(lim); err != nil {
		return m, err
	}
	if m.Opts, err = r.options(lim); err != nil {
		return m, err
	}
	for i := 3; i < n; i++ {
		if err = r.skip(lim.MaxDepth); err != nil {
			return m, err
		}
	}
	if r.left() > 0 {
		return m, r.errorf("%d trailing bytes", r.left())
	}
	return m, nil
}

// packet reads {type: 2, data, nsp}.
func (r *reader) packet(lim *Limits) (Packet, error) {
	p := Packet{Nsp: "/"}
	start := r.off
	n, err := r.mapLen()
	if err != nil {
		return p, err
	}
	var haveType, haveData bool
	for range n {
		key, err := r.strBytes()
		if err != nil {
			return p, err
		}
		switch string(key) {
		case "type":
			at := r.off
			t, err := r.integer()
			if err != nil {
				return p, err
			}
			if t != 2 {
				return p, fmt.Errorf("%w: packet type %d at offset %d, want 2 (EVENT)", ErrUnsupportedPacket, t, at)
			}
			haveType = true
		case "data":
			at := r.off
			if p.Data, err = r.args(lim); err != nil {
				return p, err
			}
			if !validEventName(p.Data) {
				return p, fmt.Errorf("%w: data at offset %d is not [event, ...args]", ErrUnsupportedPacket, at)
			}
			haveData = true
		case "nsp":
			if p.Nsp, err = r.str(); err != nil {
				return p, err
			}
		default:
			if err := r.skip(lim.MaxDepth); err != nil {
				return p, err
			}
		}
	}
	if !haveType || !haveData {
		return p, fmt.Errorf("%w: packet at offset %d without type or data", ErrUnsupportedPacket, start)
	}
	return p, nil
}

// validEventName reports whether data starts with an event name: a string or a number.
func validEventName(data Args) bool {
	if len(data.Raw) == 0 || len(data.Raw[0]) == 0 {
		return false
	}
	c := data.Raw[0][0]
	return c == '"' || c == '-' || (c >= '0' && c <= '9')
}

// options reads {rooms, except, flags}. Missing or nil members are empty, as
// `new Set(undefined)` is in the adapter's onmessage.
func (r *reader) options(lim *Limits) (Options, error) {
	var o Options
	n, err := r.mapLen()
	if err != nil {
		return o, err
	}
	for range n {
		key, err := r.strBytes()
		if err != nil {
			return o, err
		}
		switch string(key) {
		case "rooms":
			o.Rooms, err = r.rooms()
		case "except":
			o.Except, err = r.rooms()
		case "flags":
			o.Flags, err = r.flags(lim)
		default:
			err = r.skip(lim.MaxDepth)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// rooms reads an array of room names (or nil). A number becomes its JavaScript
// String() text: the adapter accepts numeric rooms (7.0.1 fix, hasRoom in
// lib/index.ts).
func (r *reader) rooms() ([]string, error) {
	if r.isNil() {
		return nil, nil
	}
	n, err := r.arrayLen()
	if err != nil || n == 0 {
		return nil, err
	}
	rooms := make([]string, n)
	for i := range rooms {
		c, err := r.peek()
		if err != nil {
			return nil, err
		}
		if isNumber(c) {
			num, err := r.num()
			if err != nil {
				return nil, err
			}
			rooms[i] = num.String()
			continue
		}
		if rooms[i], err = r.str(); err != nil {
			return nil, err
		}
	}
	return rooms, nil
}

// String returns the number as JavaScript's String(n) writes it.
func (n number) String() string {
	switch n.kind {
	case numInt:
		return strconv.FormatInt(n.i, 10)
	case numUint:
		return strconv.FormatUint(n.u, 10)
	}
	switch {
	case math.IsNaN(n.f):
		return "NaN"
	case math.IsInf(n.f, 1):
		return "Infinity"
	case math.IsInf(n.f, -1):
		return "-Infinity"
	}
	return string(appendJSNumber(nil, n.f))
}

// flags reads the flags map (or nil). Booleans must be booleans; timeout a number of
// milliseconds from 0 to the largest time.Duration.
func (r *reader) flags(lim *Limits) (Flags, error) {
	var f Flags
	if r.isNil() {
		return f, nil
	}
	n, err := r.mapLen()
	if err != nil {
		return f, err
	}
	for range n {
		key, err := r.strBytes()
		if err != nil {
			return f, err
		}
		switch string(key) {
		case "volatile":
			f.Volatile, err = r.boolean()
		case "compress":
			var c bool
			c, err = r.boolean()
			f.Compress = &c
		case "local":
			f.Local, err = r.boolean()
		case "broadcast":
			f.Broadcast, err = r.boolean()
		case "binary":
			f.Binary, err = r.boolean()
		case "timeout":
			f.Timeout, err = r.timeout()
		default:
			err = r.skip(lim.MaxDepth)
		}
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

// timeout reads a number of milliseconds. A fractional timeout (possible in
// JavaScript) is truncated to whole milliseconds, the resolution of Node's timers.
func (r *reader) timeout() (*time.Duration, error) {
	start := r.off
	n, err := r.num()
	if err != nil {
		return nil, err
	}
	const maxMS = math.MaxInt64 / int64(time.Millisecond)
	ms := int64(-1)
	switch {
	case n.kind == numInt:
		ms = n.i
	case n.kind == numFloat && n.f >= 0 && n.f <= float64(maxMS):
		ms = int64(n.f)
	}
	if ms < 0 || ms > maxMS {
		r.off = start
		return nil, r.errorf("timeout out of range")
	}
	d := time.Duration(ms) * time.Millisecond
	return &d, nil
}

// wrapInput adds a short quote of the message to a decoding error.
func wrapInput(err error, b []byte) error {
	return fmt.Errorf("%w (message %s)", err, quote(b))
}

// quote returns b, cut to 32 bytes, as a Go-quoted string for error messages.
func quote(b []byte) string {
	const max = 32
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "..."
	}
	return strconv.Quote(string(b))
}

// The wire structs below give vmihailenco/msgpack the key order notepack.io writes for
// the adapter's objects (protocol.md §5.2 capture): packet type→data→nsp, options
// rooms→except→flags. The emitter writes rooms→flags→except; order does not matter to
// a decoder.

type wireBroadcast struct {
	_msgpack struct{} `msgpack:",as_array"`
	UID      string
	Packet   wirePacket
	Opts     wireOptions
}

type wirePacket struct {
	Type int      `msgpack:"type"`
	Data wireArgs `msgpack:"data"`
	Nsp  string   `msgpack:"nsp"`
}

func newWirePacket(p *Packet) wirePacket {
	nsp := p.Nsp
	if nsp == "" {
		nsp = "/"
	}
	return wirePacket{Type: 2, Data: wireArgs{&p.Data}, Nsp: nsp}
}

// wireArgs writes Args as a msgpack array of values.
type wireArgs struct{ a *Args }

func (w wireArgs) EncodeMsgpack(enc *msgpack.Encoder) error {
	return encodeArgs(enc, w.a.Raw, w.a.Attachments)
}

// wireValue writes the single value of Args (a BROADCAST_ACK's packet).
type wireValue struct{ a *Args }

func (w wireValue) EncodeMsgpack(enc *msgpack.Encoder) error {
	if len(w.a.Raw) != 1 {
		return fmt.Errorf("%w: want exactly one value, have %d", ErrInvalidJSON, len(w.a.Raw))
	}
	var j jsonEncoder
	return j.encode(enc, w.a.Raw[0], w.a.Attachments)
}

type wireOptions struct {
	Rooms  wireRooms `msgpack:"rooms"`
	Except wireRooms `msgpack:"except"`
	Flags  wireFlags `msgpack:"flags"`
}

func newWireOptions(o *Options) wireOptions {
	w := wireOptions{
		Rooms:  wireRooms{o.Rooms},
		Except: wireRooms{o.Except},
		Flags: wireFlags{
			Volatile:  o.Flags.Volatile,
			Compress:  o.Flags.Compress,
			Local:     o.Flags.Local,
			Broadcast: o.Flags.Broadcast,
			Binary:    o.Flags.Binary,
		},
	}
	if o.Flags.Timeout != nil {
		t := wireTimeout(*o.Flags.Timeout)
		w.Flags.Timeout = &t
	}
	return w
}

// wireRooms writes a list of rooms as an array, empty rather than nil when there are
// none ([...opts.rooms] in lib/index.ts). It is a struct because vmihailenco/msgpack
// writes nil for a nil slice without calling its EncodeMsgpack.
type wireRooms struct{ rooms []string }

func (w wireRooms) EncodeMsgpack(enc *msgpack.Encoder) error {
	if err := enc.EncodeArrayLen(len(w.rooms)); err != nil {
		return err
	}
	for _, room := range w.rooms {
		if err := enc.EncodeString(room); err != nil {
			return err
		}
	}
	return nil
}

type wireFlags struct {
	Volatile  bool         `msgpack:"volatile,omitempty"`
	Compress  *bool        `msgpack:"compress,omitempty"`
	Local     bool         `msgpack:"local,omitempty"`
	Broadcast bool         `msgpack:"broadcast,omitempty"`
	Binary    bool         `msgpack:"binary,omitempty"`
	Timeout   *wireTimeout `msgpack:"timeout,omitempty"`
}

// wireTimeout writes a duration in whole milliseconds.
type wireTimeout time.Duration

func (w wireTimeout) EncodeMsgpack(enc *msgpack.Encoder) error {
	return enc.EncodeInt(time.Duration(w).Milliseconds())
}
