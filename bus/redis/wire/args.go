package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/heraldhq/herald/internal/jsonstr"
	"math"
	"strconv"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Args are JSON-like values as Herald holds them: the JSON text of each value, with
// every binary value replaced by a Socket.IO placeholder {"_placeholder":true,"num":N},
// and the attachments those placeholders refer to (socket.io-parser's
// deconstructPacket form). It has the fields of socketio.Args, so
// socketio.Args(a) converts one into the other.
//
// On the bus the same values are msgpack, as notepack.io writes them: binary is a
// msgpack bin in place, with no placeholder.
type Args struct {
	Raw         []json.RawMessage
	Attachments [][]byte
}

// placeholderKey is the key socket.io-parser's reconstructPacket looks for
// (`data._placeholder === true`).
const placeholderKey = "_placeholder"

// maxEncodeDepth bounds the nesting of JSON that the encoders convert to msgpack. It is
// encoding/json's own limit, so any value Herald accepted from a client fits.
const maxEncodeDepth = 10000

// AppendArgs appends the msgpack array of a's values to dst, as notepack.io would encode
// the JavaScript values they stand for (see encodeJSON). It fails when a value is not
// valid JSON or a placeholder does not name an attachment.
func AppendArgs(dst []byte, a Args) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := newEncoder(buf)
	defer msgpack.PutEncoder(enc)
	if err := encodeArgs(enc, a.Raw, a.Attachments); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}

// DecodeArgs decodes b, one msgpack array of JSON-like values (for example the data of
// a broadcast packet), into Args (see decodeValue for the rules). The attachments are
// slices of b.
func DecodeArgs(b []byte, lim Limits) (Args, error) {
	lim = lim.normalized()
	if len(b) > lim.MaxSize {
		return Args{}, fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, len(b), lim.MaxSize)
	}
	r := reader{b: b}
	a, err := r.args(&lim)
	if err == nil && r.left() > 0 {
		err = r.errorf("%d trailing bytes", r.left())
	}
	if err != nil {
		return Args{}, wrapInput(err, b)
	}
	return a, nil
}

// newEncoder returns a pooled msgpack encoder writing to w with notepack.io's integer
// and float widths: integers in the fewest bytes, every other number as float64.
func newEncoder(w *bytes.Buffer) *msgpack.Encoder {
	enc := msgpack.GetEncoder()
	enc.Reset(w)
	enc.UseCompactInts(true)
	enc.UseCompactFloats(false)
	return enc
}

// encodeArgs writes a msgpack array holding each JSON value of raw.
func encodeArgs(enc *msgpack.Encoder, raw []json.RawMessage, atts [][]byte) error {
	if err := enc.EncodeArrayLen(len(raw)); err != nil {
		return err
	}
	var j jsonEncoder
	for _, v := range raw {
		if err := j.encode(enc, v, atts); err != nil {
			return err
		}
	}
	return nil
}

// args reads a msgpack array of values into Args. All JSON goes into one buffer that the
// Raw entries slice.
func (r *reader) args(lim *Limits) (Args, error) {
	n, err := r.arrayLen()
	if err != nil {
		return Args{}, err
	}
	var a Args
	ends := make([]int, n)
	buf := make([]byte, 0, min(2*r.left(), lim.MaxSize))
	for i := range n {
		if buf, err = r.appendJSON(buf, &a.Attachments, lim, lim.MaxDepth); err != nil {
			return Args{}, err
		}
		ends[i] = len(buf)
	}
	a.Raw = make([]json.RawMessage, n)
	start := 0
	for i, end := range ends {
		a.Raw[i] = buf[start:end:end]
		start = end
	}
	return a, nil
}

// value reads one JSON-like value into Args holding just that value.
func (r *reader) value(lim *Limits) (Args, error) {
	var a Args
	buf, err := r.appendJSON(nil, &a.Attachments, lim, lim.MaxDepth)
	if err != nil {
		return Args{}, err
	}
	a.Raw = []json.RawMessage{buf}
	return a, nil
}

// appendJSON reads one msgpack value and appends it to dst as JSON.stringify would
// write the value notepack.io's decoder makes of it:
//   - nil, bool, str, array and map (str keys only) map to their JSON kinds; strings
//     are escaped as JSON.stringify does, invalid UTF-8 becomes U+FFFD as
//     Buffer.toString does;
//   - integers keep every digit (JavaScript would round those beyond 2^53); floats are
//     written as JavaScript prints numbers, NaN and ±Inf as null;
//   - bin becomes a placeholder whose num counts the bins in document order, the order
//     of socket.io-parser's deconstructPacket, and its bytes the next attachment;
//   - the timestamp extension (type -1) becomes the string Date.toJSON gives, null for
//     a date beyond JavaScript's range; other extension types are refused;
//   - a map whose "_placeholder" key is true is refused: Herald could not tell it
//     from a real placeholder.
//
// depth is how many more levels of arrays and maps may open.
func (r *reader) appendJSON(dst []byte, atts *[][]byte, lim *Limits, depth int) ([]byte, error) {
	start := r.off
	c, err := r.peek()
	if err != nil {
		return dst, err
	}
	switch {
	case isNumber(c):
		n, err := r.num()
		if err != nil {
			return dst, err
		}
		switch n.kind {
		case numInt:
			dst = strconv.AppendInt(dst, n.i, 10)
		case numUint:
			dst = strconv.AppendUint(dst, n.u, 10)
		default:
			dst = appendJSNumber(dst, n.f)
		}
	case c >= 0xa0 && c <= 0xbf, c >= codeStr8 && c <= codeStr32:
		s, err := r.strBytes()
		if err != nil {
			return dst, err
		}
		dst = jsonstr.Append(dst, s)
	case c == codeNil:
		r.off++
		dst = append(dst, "null"...)
	case c == codeTrue:
		r.off++
		dst = append(dst, "true"...)
	case c == codeFalse:
		r.off++
		dst = append(dst, "false"...)
	case c >= 0x90 && c <= 0x9f, c == codeArray16, c == codeArray32:
		if depth <= 0 {
			return dst, fmt.Errorf("%w: more than %d levels at offset %d", ErrTooDeep, lim.MaxDepth, r.off)
		}
		n, err := r.arrayLen()
		if err != nil {
			return dst, err
		}
		dst = append(dst, '[')
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = r.appendJSON(dst, atts, lim, depth-1); err != nil {
				return dst, err
			}
		}
		dst = append(dst, ']')
	case c >= 0x80 && c <= 0x8f, c == codeMap16, c == codeMap32:
		if depth <= 0 {
			return dst, fmt.Errorf("%w: more than %d levels at offset %d", ErrTooDeep, lim.MaxDepth, r.off)
		}
		n, err := r.mapLen()
		if err != nil {
			return dst, err
		}
		dst = append(dst, '{')
		for i := range n {
			if i > 0 {
				dst = append(dst, ',')
			}
			key, err := r.strBytes()
			if err != nil {
				return dst, err
			}
			if string(key) == placeholderKey && r.off < len(r.b) && r.b[r.off] == codeTrue {
				return dst, fmt.Errorf("%w at offset %d", ErrPlaceholderInData, r.off)
			}
			dst = jsonstr.Append(dst, key)
			dst = append(dst, ':')
			if dst, err = r.appendJSON(dst, atts, lim, depth-1); err != nil {
				return dst, err
			}
		}
		dst = append(dst, '}')
	case c >= codeBin8 && c <= codeBin32:
		r.off++
		n, err := r.length(1 << (c - codeBin8))
		if err != nil {
			return dst, err
		}
		b, err := r.take(n)
		if err != nil {
			return dst, err
		}
		if len(*atts) >= lim.MaxAttachments {
			return dst, fmt.Errorf("%w: more than %d at offset %d", ErrTooManyAttachments, lim.MaxAttachments, start)
		}
		dst = append(dst, `{"_placeholder":true,"num":`...)
		dst = strconv.AppendInt(dst, int64(len(*atts)), 10)
		dst = append(dst, '}')
		*atts = append(*atts, b)
	case c >= codeExt8 && c <= codeExt32, c >= codeFixExt1 && c <= codeFixExt16:
		r.off++
		typ, n, err := r.extHeader(c)
		if err != nil {
			return dst, err
		}
		if typ != -1 {
			r.off = start
			return dst, fmt.Errorf("%w: type %d at offset %d", ErrUnsupportedExt, typ, start)
		}
		body, err := r.take(n)
		if err != nil {
			return dst, err
		}
		if dst, err = appendTimestamp(dst, body); err != nil {
			r.off = start
			return dst, r.errorf("%v", err)
		}
	default:
		return dst, r.errorf("invalid code 0x%02x", c)
	}
	if len(dst) > lim.MaxSize {
		return dst, fmt.Errorf("%w: decoded JSON exceeds %d bytes", ErrTooLarge, lim.MaxSize)
	}
	return dst, nil
}

// appendTimestamp decodes the body of a msgpack timestamp (extension type -1; 4, 8 or
// 12 bytes, msgpack spec "Timestamp extension type") and appends the JSON string that
// JSON.stringify writes for the Date notepack.io builds from it (lib/decode.js: the
// milliseconds s*1e3 + ns/1e6, truncated by the Date constructor).
func appendTimestamp(dst, body []byte) ([]byte, error) {
	var sec int64
	var nsec uint32
	switch len(body) {
	case 4:
		sec = int64(uint32(body[0])<<24 | uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3]))
	case 8:
		v := uint64(0)
		for _, b := range body {
			v = v<<8 | uint64(b)
		}
		nsec, sec = uint32(v>>34), int64(v&(1<<34-1))
	case 12:
		nsec = uint32(body[0])<<24 | uint32(body[1])<<16 | uint32(body[2])<<8 | uint32(body[3])
		v := uint64(0)
		for _, b := range body[4:] {
			v = v<<8 | uint64(b)
		}
		sec = int64(v)
	default:
		return dst, fmt.Errorf("timestamp of %d bytes", len(body))
	}
	if nsec > 999999999 {
		return dst, fmt.Errorf("timestamp with %d nanoseconds", nsec)
	}
	ms := math.Trunc(float64(sec)*1e3 + float64(nsec)/1e6)
	if math.Abs(ms) > 8.64e15 { // ECMAScript TimeClip: an invalid Date, which JSON.stringify writes as null
		return append(dst, "null"...), nil
	}
	return appendISODate(dst, int64(ms)), nil
}

// appendISODate appends the JSON string Date.prototype.toISOString gives for ms
// milliseconds since the epoch: YYYY-MM-DDTHH:mm:ss.sssZ, with a signed six-digit year
// outside 0000–9999.
func appendISODate(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	dst = append(dst, '"')
	switch y := t.Year(); {
	case y >= 0 && y <= 9999:
		dst = appendPadded(dst, y, 4)
	case y < 0:
		dst = append(dst, '-')
		dst = appendPadded(dst, -y, 6)
	default:
		dst = append(dst, '+')
		dst = appendPadded(dst, y, 6)
	}
	dst = append(dst, '-')
	dst = appendPadded(dst, int(t.Month()), 2)
	dst = append(dst, '-')
	dst = appendPadded(dst, t.Day(), 2)
	dst = append(dst, 'T')
	dst = appendPadded(dst, t.Hour(), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, t.Minute(), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, t.Second(), 2)
	dst = append(dst, '.')
	dst = appendPadded(dst, t.Nanosecond()/1e6, 3)
	return append(dst, 'Z', '"')
}

func appendPadded(dst []byte, v, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// appendJSNumber appends f as JSON.stringify writes a number: the shortest decimal that
// round-trips, in exponent form below 1e-6 and from 1e21 up (ECMAScript
// Number::toString), "0" for -0 and null for NaN and ±Inf. encoding/json's float
// encoder follows the same rule.
func appendJSNumber(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return append(dst, "null"...)
	case f == 0:
		return append(dst, '0')
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	n := len(dst)
	dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
	// Go writes e-07 and e+21; JavaScript writes e-7 and e+21.
	if m := len(dst); m-n >= 4 && dst[m-4] == 'e' && dst[m-3] == '-' && dst[m-2] == '0' {
		dst[m-2] = dst[m-1]
		dst = dst[:m-1]
	}
	return dst
}
