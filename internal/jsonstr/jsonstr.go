// Package jsonstr writes JSON strings exactly as JavaScript's JSON.stringify does, so
// values Herald passes between Socket.IO clients, Node peers and the bus keep their
// bytes: no HTML escaping, and invalid UTF-8 replaced the way Node decodes it.
package jsonstr

import (
	"unicode/utf8"
	"unsafe"
)

const hexDigits = "0123456789abcdef"

// Append appends s as a JSON string the way JSON.stringify writes it: '"',
// '\\' and control characters escaped (\b \f \n \r \t, else \u00XX), everything else,
// '<', '>', '&', U+2028 and U+2029 included, left as is. Invalid UTF-8 becomes U+FFFD,
// once per maximal subpart as Buffer.toString does.
func Append(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i += MaximalSubpart(s[i:])
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// MaximalSubpart returns the length of the ill-formed UTF-8 sequence at the start of s
// that a WHATWG decoder, and so Node's Buffer.toString, replaces with one U+FFFD: the
// lead byte and the continuation bytes that fit it (Unicode 15 §3.9, "U+FFFD
// Substitution of Maximal Subparts"). Go's utf8 package would replace each byte.
func MaximalSubpart(s []byte) int {
	lo, hi := byte(0x80), byte(0xbf)
	var need int
	switch c := s[0]; {
	case c >= 0xc2 && c <= 0xdf:
		need = 1
	case c == 0xe0:
		need, lo = 2, 0xa0
	case c >= 0xe1 && c <= 0xef && c != 0xed:
		need = 2
	case c == 0xed: // no surrogates
		need, hi = 2, 0x9f
	case c == 0xf0:
		need, lo = 3, 0x90
	case c >= 0xf1 && c <= 0xf3:
		need = 3
	case c == 0xf4: // nothing above U+10FFFF
		need, hi = 3, 0x8f
	default:
		return 1
	}
	n := 1
	for n <= need && n < len(s) && s[n] >= lo && s[n] <= hi {
		n++
		lo, hi = 0x80, 0xbf
	}
	return n
}

// AppendString is Append for a string, without copying it.
func AppendString(dst []byte, s string) []byte {
	return Append(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
}
