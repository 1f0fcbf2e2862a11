package engineio

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestFrameHeader(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		f := NewFrame(payload)
		b := f.buf
		if b[0] != 0x81 {
			t.Fatalf("n=%d: first byte %#x, want FIN|text", n, b[0])
		}
		var length, hl int
		switch l := int(b[1]); {
		case l <= 125:
			length, hl = l, 2
		case l == 126:
			length, hl = int(binary.BigEndian.Uint16(b[2:])), 4
		default:
			length, hl = int(binary.BigEndian.Uint64(b[2:])), 10
		}
		if b[1]&0x80 != 0 {
			t.Fatalf("n=%d: server frame must not be masked", n)
		}
		if length != n || hl != int(f.hdr) || len(b) != hl+n {
			t.Fatalf("n=%d: header says %d bytes (header %d, f.hdr %d, total %d)", n, length, hl, f.hdr, len(b))
		}
		// RFC 6455 §5.2: the minimal number of bytes must be used for the length.
		if (n <= 125 && hl != 2) || (n > 125 && n <= 0xffff && hl != 4) || (n > 0xffff && hl != 10) {
			t.Fatalf("n=%d: non-minimal length encoding (header %d bytes)", n, hl)
		}
		if !bytes.Equal(f.Data(), payload) {
			t.Fatalf("n=%d: Data() differs from the payload", n)
		}
	}
	bf := NewBinaryFrame([]byte{1, 2})
	if bf.buf[0] != 0x82 || !bf.Binary() {
		t.Fatalf("binary frame opcode %#x", bf.buf[0])
	}
	m := FinishFrame(append(BeginMessage(3), "abc"...), false)
	if string(m.Data()) != "4abc" {
		t.Fatalf("BeginMessage frame data %q", m.Data())
	}
}
