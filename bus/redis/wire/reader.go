package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// msgpack format codes used by the reader (msgpack spec, "Formats"). The encoders go
// through vmihailenco/msgpack, which has its own table.
const (
	codeNil      = 0xc0
	codeFalse    = 0xc2
	codeTrue     = 0xc3
	codeBin8     = 0xc4
	codeBin16    = 0xc5
	codeBin32    = 0xc6
	codeExt8     = 0xc7
	codeExt16    = 0xc8
	codeExt32    = 0xc9
	codeFloat32  = 0xca
	codeFloat64  = 0xcb
	codeUint8    = 0xcc
	codeUint16   = 0xcd
	codeUint32   = 0xce
	codeUint64   = 0xcf
	codeInt8     = 0xd0
	codeInt16    = 0xd1
	codeInt32    = 0xd2
	codeInt64    = 0xd3
	codeFixExt1  = 0xd4
	codeFixExt2  = 0xd5
	codeFixExt4  = 0xd6
	codeFixExt8  = 0xd7
	codeFixExt16 = 0xd8
	codeStr8     = 0xd9
	codeStr16    = 0xda
	codeStr32    = 0xdb
	codeArray16  = 0xdc
	codeArray32  = 0xdd
	codeMap16    = 0xde
	codeMap32    = 0xdf
)

// reader is a strict msgpack reader over one whole message. It slices the input
// instead of copying, checks every length against the bytes that are left before it
// allocates, and never reads past the end.
//
// vmihailenco/msgpack's Decoder is not used for reading: it accepts bin where a str is
// expected and nil as "" (decode_string.go bytesLen), and skips an ext header in front
// of a map (decode_map.go DecodeMapLen). Messages from Redis are untrusted input, so
// this reader accepts exactly the msgpack types each field allows.
type reader struct {
	b   []byte
	off int
}

// errorf returns a malformed-message error that says where reading stopped.
func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrMalformed, fmt.Sprintf(format, args...), r.off)
}

// left is the number of unread bytes.
func (r *reader) left() int { return len(r.b) - r.off }

// peek returns the next format code without consuming it.
func (r *reader) peek() (byte, error) {
	if r.off >= len(r.b) {
		return 0, r.errorf("unexpected end")
	}
	return r.b[r.off], nil
}

// next consumes one byte.
func (r *reader) next() (byte, error) {
	c, err := r.peek()
	if err == nil {
		r.off++
	}
	return c, err
}

// take consumes n bytes and returns them as a slice of the input.
func (r *reader) take(n int) ([]byte, error) {
	if n < 0 || n > r.left() {
		return nil, r.errorf("length %d exceeds the %d bytes left", n, r.left())
	}
	b := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return b, nil
}

// uintN consumes a big-endian unsigned integer of size 1, 2, 4 or 8 bytes.
func (r *reader) uintN(size int) (uint64, error) {
	b, err := r.take(size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), nil
	default:
		return binary.BigEndian.Uint64(b), nil
	}
}

// length consumes the size field that follows a str, bin, array, map or ext code.
func (r *reader) length(size int) (int, error) {
	n, err := r.uintN(size)
	return int(n), err // at most 1<<32-1, which fits an int on 64-bit platforms
}

// arrayLen consumes an array header. n is checked against the bytes left, since every
// element takes at least one byte.
func (r *reader) arrayLen() (int, error) {
	c, err := r.next()
	if err != nil {
		return 0, err
	}
	var n int
	switch {
	case c >= 0x90 && c <= 0x9f:
		n = int(c & 0x0f)
	case c == codeArray16:
		n, err = r.length(2)
	case c == codeArray32:
		n, err = r.length(4)
	default:
		r.off--
		return 0, r.errorf("want an array, have code 0x%02x", c)
	}
	if err == nil && n > r.left() {
		return 0, r.errorf("array of %d elements in %d bytes", n, r.left())
	}
	return n, err
}

// mapLen consumes a map header. n is checked against the bytes left, since every entry
// takes at least two bytes.
func (r *reader) mapLen() (int, error) {
	c, err := r.next()
	if err != nil {
		return 0, err
	}
	var n int
	switch {
	case c >= 0x80 && c <= 0x8f:
		n = int(c & 0x0f)
	case c == codeMap16:
		n, err = r.length(2)
	case c == codeMap32:
		n, err = r.length(4)
	default:
		r.off--
		return 0, r.errorf("want a map, have code 0x%02x", c)
	}
	if err == nil && n > r.left()/2 {
		return 0, r.errorf("map of %d entries in %d bytes", n, r.left())
	}
	return n, err
}

// strBytes consumes a str and returns its bytes (a slice of the input).
func (r *reader) strBytes() ([]byte, error) {
	c, err := r.next()
	if err != nil {
		return nil, err
	}
	var n int
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c == codeStr8:
		n, err = r.length(1)
	case c == codeStr16:
		n, err = r.length(2)
	case c == codeStr32:
		n, err = r.length(4)
	default:
		r.off--
		return nil, r.errorf("want a str, have code 0x%02x", c)
	}
	if err != nil {
		return nil, err
	}
	return r.take(n)
}

// str consumes a str.
func (r *reader) str() (string, error) {
	b, err := r.strBytes()
	return string(b), err
}

// isNil consumes a nil if one comes next.
func (r *reader) isNil() bool {
	if r.off < len(r.b) && r.b[r.off] == codeNil {
		r.off++
		return true
	}
	return false
}

// boolean consumes true or false.
func (r *reader) boolean() (bool, error) {
	c, err := r.next()
	switch {
	case err != nil:
		return false, err
	case c == codeTrue:
		return true, nil
	case c == codeFalse:
		return false, nil
	}
	r.off--
	return false, r.errorf("want a bool, have code 0x%02x", c)
}

// number is one decoded msgpack number.
type number struct {
	kind numberKind
	i    int64 // numInt
	u    uint64
	f    float64 // numFloat
}

type numberKind uint8

const (
	numInt   numberKind = iota + 1 // i holds it
	numUint                        // u holds it (a uint64 above MaxInt64)
	numFloat                       // f holds it (float32 widened, as notepack's decoder does)
)

// isNumber reports whether c starts a msgpack int or float.
func isNumber(c byte) bool {
	return c <= 0x7f || c >= 0xe0 || (c >= codeFloat32 && c <= codeInt64)
}

// num consumes an int or a float.
func (r *reader) num() (number, error) {
	c, err := r.next()
	if err != nil {
		return number{}, err
	}
	switch {
	case c <= 0x7f:
		return number{kind: numInt, i: int64(c)}, nil
	case c >= 0xe0:
		return number{kind: numInt, i: int64(int8(c))}, nil
	}
	var size int
	switch c {
	case codeUint8, codeInt8:
		size = 1
	case codeUint16, codeInt16:
		size = 2
	case codeUint32, codeInt32, codeFloat32:
		size = 4
	case codeUint64, codeInt64, codeFloat64:
		size = 8
	default:
		r.off--
		return number{}, r.errorf("want a number, have code 0x%02x", c)
	}
	v, err := r.uintN(size)
	if err != nil {
		return number{}, err
	}
	switch c {
	case codeFloat32:
		return number{kind: numFloat, f: float64(math.Float32frombits(uint32(v)))}, nil
	case codeFloat64:
		return number{kind: numFloat, f: math.Float64frombits(v)}, nil
	case codeInt8:
		return number{kind: numInt, i: int64(int8(v))}, nil
	case codeInt16:
		return number{kind: numInt, i: int64(int16(v))}, nil
	case codeInt32:
		return number{kind: numInt, i: int64(int32(v))}, nil
	case codeInt64:
		return number{kind: numInt, i: int64(v)}, nil
	}
	if v > math.MaxInt64 {
		return number{kind: numUint, u: v}, nil
	}
	return number{kind: numInt, i: int64(v)}, nil
}

// integer consumes an int that fits an int64.
func (r *reader) integer() (int64, error) {
	start := r.off
	n, err := r.num()
	if err != nil {
		return 0, err
	}
	if n.kind != numInt {
		r.off = start
		return 0, r.errorf("want an integer")
	}
	return n.i, nil
}

// extHeader consumes the header of an ext or fixext value.
func (r *reader) extHeader(c byte) (typ int8, n int, err error) {
	switch c {
	case codeFixExt1:
		n = 1
	case codeFixExt2:
		n = 2
	case codeFixExt4:
		n = 4
	case codeFixExt8:
		n = 8
	case codeFixExt16:
		n = 16
	case codeExt8:
		n, err = r.length(1)
	case codeExt16:
		n, err = r.length(2)
	case codeExt32:
		n, err = r.length(4)
	}
	if err != nil {
		return 0, 0, err
	}
	t, err := r.uintN(1)
	return int8(t), n, err
}

// skip consumes one value of any type, nested at most depth levels.
func (r *reader) skip(depth int) error {
	if depth <= 0 {
		return fmt.Errorf("%w at offset %d", ErrTooDeep, r.off)
	}
	c, err := r.peek()
	if err != nil {
		return err
	}
	switch {
	case isNumber(c):
		_, err = r.num()
		return err
	case c >= 0xa0 && c <= 0xbf, c >= codeStr8 && c <= codeStr32:
		_, err = r.strBytes()
		return err
	case c >= 0x90 && c <= 0x9f, c == codeArray16, c == codeArray32:
		n, err := r.arrayLen()
		for i := 0; i < n && err == nil; i++ {
			err = r.skip(depth - 1)
		}
		return err
	case c >= 0x80 && c <= 0x8f, c == codeMap16, c == codeMap32:
		n, err := r.mapLen()
		for i := 0; i < 2*n && err == nil; i++ {
			err = r.skip(depth - 1)
		}
		return err
	case c == codeNil, c == codeTrue, c == codeFalse:
		r.off++
		return nil
	case c >= codeBin8 && c <= codeBin32:
		r.off++
		n, err := r.length(1 << (c - codeBin8))
		if err == nil {
			_, err = r.take(n)
		}
		return err
	case c >= codeExt8 && c <= codeExt32, c >= codeFixExt1 && c <= codeFixExt16:
		r.off++
		_, n, err := r.extHeader(c)
		if err == nil {
			_, err = r.take(n)
		}
		return err
	}
	return r.errorf("invalid code 0x%02x", c)
}
