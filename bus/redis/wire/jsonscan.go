package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/heraldhq/herald/internal/jsonstr"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
)

// jsonEncoder converts JSON values to msgpack the way notepack.io encodes the value
// JSON.parse would make of them (notepack.io lib/encode.js):
//   - objects keep their key order (JavaScript's insertion order), duplicates included;
//   - a number whose value is an integer (Math.floor(v) === v) becomes the smallest
//     msgpack int; integer literals keep all their digits where JavaScript would round
//     them. Other numbers, and integers beyond the uint64/int64 range, become float64;
//   - an object whose "_placeholder" member is true is a binary placeholder
//     (socket.io-parser reconstructPacket): its integer "num" must name an attachment,
//     which is written as a msgpack bin in its place.
//
// msgpack needs each container's length before its elements, so encode makes two
// passes: scan validates the text and records, for every array and object in document
// order, its element count and whether it is a placeholder; emit then writes msgpack.
// The zero value is ready to use; its record slice is reused across calls.
type jsonEncoder struct {
	recs  []container
	stack []openContainer
}

// openContainer is scan's state for a container whose end it has not reached.
type openContainer struct {
	rec     int    // index in recs
	wantKey bool   // object: the next string is a key
	lastKey string // object: "_placeholder" or "num" when that member's value comes next
}

// container is what scan learned about one array or object.
type container struct {
	count       int  // elements, or members (duplicate keys counted)
	object      bool // object rather than array
	placeholder bool // an object whose last "_placeholder" member is true
	sawTrue     bool // some "_placeholder" member is true (with duplicates, not the last)
	hasNum      bool // the last "num" member is a number
	num         float64
	end         int // offset just past the closing bracket
	next        int // index of the first record after this container's contents
}

// encode writes the msgpack for the JSON value v.
func (j *jsonEncoder) encode(enc *msgpack.Encoder, v json.RawMessage, atts [][]byte) error {
	if !json.Valid(v) {
		return fmt.Errorf("%w: %s", ErrInvalidJSON, quote(v))
	}
	if err := j.scan(v); err != nil {
		return err
	}
	e := emitter{enc: enc, b: v, recs: j.recs, atts: atts}
	return e.value()
}

// scan records the containers of the valid JSON text b (see container).
func (j *jsonEncoder) scan(b []byte) error {
	j.recs = j.recs[:0]
	stack := j.stack[:0]
	defer func() { j.stack = stack[:0] }()
	// value notes a value that starts at i in the innermost container.
	value := func(i int, isTrue bool, numText []byte) {
		if len(stack) == 0 {
			return
		}
		top := &stack[len(stack)-1]
		rec := &j.recs[top.rec]
		if !rec.object {
			rec.count++
			return
		}
		switch top.lastKey {
		case placeholderKey:
			rec.placeholder = isTrue
			rec.sawTrue = rec.sawTrue || isTrue
		case "num":
			rec.hasNum = false
			if numText != nil {
				if f, err := strconv.ParseFloat(string(numText), 64); err == nil {
					rec.hasNum, rec.num = true, f
				}
			}
		}
		top.lastKey = ""
	}
	for i := 0; i < len(b); {
		switch c := b[i]; c {
		case ' ', '\t', '\n', '\r', ':':
			i++
		case ',':
			if n := len(stack); n > 0 && j.recs[stack[n-1].rec].object {
				stack[n-1].wantKey = true
			}
			i++
		case '[', '{':
			value(i, false, nil)
			if len(stack) >= maxEncodeDepth {
				return fmt.Errorf("%w: more than %d levels", ErrTooDeep, maxEncodeDepth)
			}
			j.recs = append(j.recs, container{object: c == '{'})
			stack = append(stack, openContainer{rec: len(j.recs) - 1, wantKey: c == '{'})
			i++
		case ']', '}':
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			j.recs[top.rec].end = i + 1
			j.recs[top.rec].next = len(j.recs)
			i++
		case '"':
			end := stringEnd(b, i)
			if n := len(stack); n > 0 && stack[n-1].wantKey {
				top := &stack[n-1]
				top.wantKey = false
				j.recs[top.rec].count++
				top.lastKey = memberKey(b[i:end])
			} else {
				value(i, false, nil)
			}
			i = end
		default: // a number, true, false or null
			end := i + 1
			for end < len(b) && !isDelimiter(b[end]) {
				end++
			}
			var numText []byte
			if c == '-' || (c >= '0' && c <= '9') {
				numText = b[i:end]
			}
			value(i, string(b[i:end]) == "true", numText)
			i = end
		}
	}
	return nil
}

// memberKey returns "_placeholder" or "num" when the JSON string s (quotes included)
// is that key, "" otherwise. Only a key with escapes is unquoted.
func memberKey(s []byte) string {
	key := s[1 : len(s)-1]
	if bytes.IndexByte(key, '\\') >= 0 {
		k, err := unquote(s)
		if err != nil {
			return ""
		}
		key = []byte(k)
	}
	switch string(key) {
	case placeholderKey:
		return placeholderKey
	case "num":
		return "num"
	}
	return ""
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\n', '\r', ':':
		return true
	}
	return false
}

// stringEnd returns the offset just past the JSON string that starts at b[i] == '"'.
// b is valid JSON.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// unquote returns the contents of the JSON string s, quotes included in s. Invalid
// UTF-8 becomes U+FFFD as a WHATWG decoder would have made it before JSON.parse saw
// the text (json.Valid lets invalid UTF-8 through).
func unquote(s []byte) (string, error) {
	if !utf8.Valid(s) {
		s = toValidUTF8(s)
	}
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s[1 : len(s)-1]), nil
	}
	var out string
	err := json.Unmarshal(s, &out)
	return out, err
}

// toValidUTF8 replaces each maximal subpart of ill-formed UTF-8 in s with U+FFFD.
func toValidUTF8(s []byte) []byte {
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\ufffd"...)
			i += jsonstr.MaximalSubpart(s[i:])
			continue
		}
		out = append(out, s[i:i+size]...)
		i += size
	}
	return out
}

// emitter is the second pass of jsonEncoder: it walks the text again and writes msgpack,
// taking container records in the order scan made them.
type emitter struct {
	enc  *msgpack.Encoder
	b    []byte
	i    int
	recs []container
	rec  int
	atts [][]byte
}

func (e *emitter) skipSpace() {
	for e.i < len(e.b) {
		switch e.b[e.i] {
		case ' ', '\t', '\n', '\r', ',', ':':
			e.i++
		default:
			return
		}
	}
}

// value writes the JSON value at e.i.
func (e *emitter) value() error {
	e.skipSpace()
	switch c := e.b[e.i]; c {
	case '{', '[':
		rec := e.recs[e.rec]
		if rec.placeholder {
			return e.placeholder(rec)
		}
		if rec.sawTrue {
			// {"_placeholder":true,"_placeholder":false}: JSON.parse keeps the last
			// member, but a map holding "_placeholder": true would be refused by every
			// decoder of Herald's (see appendJSON), so it is refused here too.
			return fmt.Errorf("%w: %s has a true \"_placeholder\" member that a later one overrides", ErrInvalidPlaceholder, quote(e.b[e.i:rec.end]))
		}
		e.rec++
		var err error
		if rec.object {
			err = e.enc.EncodeMapLen(rec.count)
		} else {
			err = e.enc.EncodeArrayLen(rec.count)
		}
		e.i++
		for k := 0; k < rec.count && err == nil; k++ {
			if rec.object {
				e.skipSpace()
				if err = e.str(); err != nil {
					break
				}
			}
			err = e.value()
		}
		e.skipSpace()
		e.i++ // the closing bracket
		return err
	case '"':
		return e.str()
	case 't':
		e.i += len("true")
		return e.enc.EncodeBool(true)
	case 'f':
		e.i += len("false")
		return e.enc.EncodeBool(false)
	case 'n':
		e.i += len("null")
		return e.enc.EncodeNil()
	default:
		start := e.i
		for e.i < len(e.b) && !isDelimiter(e.b[e.i]) {
			e.i++
		}
		return encodeJSONNumber(e.enc, e.b[start:e.i])
	}
}

// placeholder writes the attachment that the placeholder object rec names, and moves
// past the object and every container inside it.
func (e *emitter) placeholder(rec container) error {
	n := rec.num
	if !rec.hasNum || n != math.Trunc(n) || n < 0 || n >= float64(len(e.atts)) {
		return fmt.Errorf("%w: %s with %d attachments", ErrInvalidPlaceholder, quote(e.b[e.i:rec.end]), len(e.atts))
	}
	e.i = rec.end
	e.rec = rec.next
	return encodeBin(e.enc, e.atts[int(n)])
}

// str writes the JSON string at e.i as a msgpack str.
func (e *emitter) str() error {
	end := stringEnd(e.b, e.i)
	s, err := unquote(e.b[e.i:end])
	if err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidJSON, quote(e.b[e.i:end]))
	}
	e.i = end
	if len(s) > math.MaxUint32 {
		return fmt.Errorf("%w: string of %d bytes", ErrTooLarge, len(s))
	}
	return e.enc.EncodeString(s)
}

// encodeBin writes b as a msgpack bin (bin 8/16/32, as notepack.io writes a Buffer). A
// nil b is an empty bin, not nil.
func encodeBin(enc *msgpack.Encoder, b []byte) error {
	if len(b) > math.MaxUint32 {
		return fmt.Errorf("%w: binary of %d bytes", ErrTooLarge, len(b))
	}
	if err := enc.EncodeBytesLen(len(b)); err != nil {
		return err
	}
	_, err := enc.Writer().Write(b)
	return err
}

// encodeJSONNumber writes a JSON number as notepack.io writes the JavaScript number:
// integers (Math.floor(v) === v, -0 included) as the smallest int, others as float64.
// An integer literal that fits int64 or uint64 keeps all its digits.
func encodeJSONNumber(enc *msgpack.Encoder, text []byte) error {
	s := string(text)
	if bytes.IndexAny(text, ".eE") < 0 {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return enc.EncodeInt(i)
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return enc.EncodeUint(u)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) { // out of range is ±Inf, as in JavaScript
		return fmt.Errorf("%w: number %s", ErrInvalidJSON, quote(text))
	}
	switch {
	case f != math.Trunc(f) || math.IsInf(f, 0):
		return enc.EncodeFloat64(f)
	case f >= -(1<<63) && f < (1<<63):
		return enc.EncodeInt(int64(f))
	case f >= 0 && f < (1<<64):
		return enc.EncodeUint(uint64(f))
	}
	return enc.EncodeFloat64(f)
}
