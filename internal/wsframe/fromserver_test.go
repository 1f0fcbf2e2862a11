package wsframe

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// server encodes specs as a server sends them: unmasked.
func server(specs ...spec) []byte {
	for i := range specs {
		specs[i].unmasked = true
	}
	return frames(specs...)
}

// rawServerHeader returns an unmasked header with first byte b0, the length byte
// len7 and ext as the extended length.
func rawServerHeader(b0, len7 byte, ext []byte) []byte {
	return append([]byte{b0, len7}, ext...)
}

func TestFeedFromServer(t *testing.T) {
	long := func(n int) string { return strings.Repeat("0123456789", n/10+1)[:n] }
	tests := []struct {
		name string
		in   []byte
		max  int
		want []msg
		code uint16
	}{
		{name: "text", in: server(text("hello")), want: []msg{{OpText, "hello"}}},
		{name: "empty text", in: server(text("")), want: []msg{{OpText, ""}}},
		{name: "binary", in: server(binMsg("\x00\xff")), want: []msg{{OpBinary, "\x00\xff"}}},
		{
			name: "several frames",
			in:   server(text("one"), binMsg("two"), ping("p"), pong(""), text("héllo"), closeMsg("\x03\xe8bye")),
			want: []msg{{OpText, "one"}, {OpBinary, "two"}, {OpPing, "p"}, {OpPong, ""}, {OpText, "héllo"}, {OpClose, "\x03\xe8bye"}},
		},
		// The length encodings without a key: 2, 4 and 10 header bytes.
		{name: "length 125", in: server(text(long(125))), want: []msg{{OpText, long(125)}}},
		{name: "length 126", in: server(text(long(126))), want: []msg{{OpText, long(126)}}},
		{name: "length 65535", in: server(binMsg(long(65535))), want: []msg{{OpBinary, long(65535)}}},
		{name: "length 65536", in: server(text(long(65536))), want: []msg{{OpText, long(65536)}}},
		{name: "length 200000", in: server(text(long(200000))), want: []msg{{OpText, long(200000)}}},
		{name: "non-minimal 16-bit length", in: server(spec{op: OpText, payload: "abc", ext: 2}), want: []msg{{OpText, "abc"}}},
		{name: "non-minimal 64-bit length", in: server(spec{op: OpText, payload: "abc", ext: 8}), want: []msg{{OpText, "abc"}}},
		{
			name: "fragmented text with ping",
			in:   server(more(text("Hel")), ping("?"), more(cont("lo, ")), cont("world")),
			want: []msg{{OpPing, "?"}, {OpText, "Hello, world"}},
		},
		{name: "UTF-8 split across fragments", in: server(more(text("caf\xc3")), cont("\xa9")), want: []msg{{OpText, "café"}}},
		{name: "MaxPayload exact", max: 5, in: server(text("12345")), want: []msg{{OpText, "12345"}}},

		{name: "masked", in: frames(text("hi")), code: 1002},
		{name: "masked ping", in: frames(ping("")), code: 1002},
		{name: "masked continuation", in: append(server(more(text("a"))), frames(cont("b"))...), code: 1002},
		{name: "messages before a masked frame", in: append(server(text("ok"), ping("p")), frames(text("x"))...), want: []msg{{OpText, "ok"}, {OpPing, "p"}}, code: 1002},
		{name: "RSV1", in: server(spec{op: OpText, payload: "hi", rsv: 0x40}), code: 1002},
		{name: "unknown opcode", in: server(spec{op: 3, payload: "x"}), code: 1002},
		{name: "fragmented ping", in: server(more(ping("x"))), code: 1002},
		{name: "ping of 126 bytes", in: server(ping(long(126))), code: 1002},
		{name: "pong with 64-bit length", in: rawServerHeader(0x8A, 127, u64(3)), code: 1002},
		{name: "continuation without message", in: server(cont("x")), code: 1002},
		{name: "text during fragmented message", in: server(more(text("a")), text("b")), code: 1002},
		{name: "64-bit length with MSB set", in: rawServerHeader(0x82, 127, u64(1<<63|5)), code: 1002},
		{name: "close of 1 byte", in: server(closeMsg("\x03")), code: 1002},
		{name: "frame over MaxPayload", max: 10, in: server(text("12345678901")), code: 1009},
		{name: "header claiming 1<<40 bytes", max: 1 << 20, in: rawServerHeader(0x82, 127, u64(1<<40)), code: 1009},
		{name: "fragments over MaxPayload", max: 10, in: server(more(text("123456")), cont("12345")), code: 1009},
		{name: "invalid UTF-8", in: server(text("ok\xff")), code: 1007},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFeed(t, Parser{MaxPayload: tt.max, FromServer: true}, tt.in, tt.want, tt.code)
		})
	}
}

// A client-side Parser refuses what a server-side one accepts and the other way
// round: the mask bit alone decides.
func TestFromServerModesDisagree(t *testing.T) {
	in := []spec{text("a"), more(binMsg("b")), ping("p"), cont("c"), closeMsg("\x03\xe8")}
	want := []msg{{OpText, "a"}, {OpPing, "p"}, {OpBinary, "bc"}, {OpClose, "\x03\xe8"}}
	for _, tc := range []struct {
		fromServer, masked bool
		code               uint16
	}{{false, true, 0}, {true, false, 0}, {false, false, 1002}, {true, true, 1002}} {
		specs := slices.Clone(in)
		for i := range specs {
			specs[i].unmasked = !tc.masked
		}
		got, code := feedParser(t, Parser{FromServer: tc.fromServer}, frames(specs...))
		wantMsgs := want
		if tc.code != 0 {
			wantMsgs = nil
		}
		if code != tc.code || !slices.Equal(got, wantMsgs) {
			t.Errorf("FromServer %v, masked %v: got %v, code %d; want %v, code %d", tc.fromServer, tc.masked, got, code, wantMsgs, tc.code)
		}
	}
}

// Whole frames from a server are handed over in the buffer itself, untouched, and
// without allocating.
func TestFromServerInPlaceNoAlloc(t *testing.T) {
	data := server(text("hello"))
	p := Parser{FromServer: true}
	err := p.Feed(data, func(op Opcode, payload []byte) bool {
		if &payload[0] != &data[2] {
			t.Error("payload is not in data")
		}
		return true
	})
	if err != nil || string(data[2:]) != "hello" {
		t.Fatalf("err %v, data %q", err, data)
	}

	buf := server(text("hello"), binMsg("\x01\x02"), ping("p"), pong(""), text(strings.Repeat("é", 100)), closeMsg("\x03\xe8"))
	n := 0
	h := func(Opcode, []byte) bool { n++; return true }
	allocs := testing.AllocsPerRun(100, func() {
		if err := p.Feed(buf, h); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 || n != 6*101 {
		t.Fatalf("%v allocations per Feed, %d messages", allocs, n)
	}
}

// A message larger than any one read arrives in pieces; the Parser keeps only the
// frame being assembled.
func TestFromServerLargeInPieces(t *testing.T) {
	payload := strings.Repeat("x", 150_000)
	in := server(text(payload), text("after"))
	p := Parser{FromServer: true}
	var got []msg
	h := func(op Opcode, b []byte) bool { got = append(got, msg{op, string(b)}); return true }
	for off := 0; off < len(in); off += 64 << 10 {
		if err := p.Feed(in[off:min(off+64<<10, len(in))], h); err != nil {
			t.Fatal(err)
		}
		if off+64<<10 < len(in) && p.Pending() != off+64<<10 {
			t.Fatalf("after %d bytes: Pending() = %d", off+64<<10, p.Pending())
		}
	}
	if want := []msg{{OpText, payload}, {OpText, "after"}}; !slices.Equal(got, want) || p.Pending() != 0 {
		t.Fatalf("got %v, Pending() %d", got, p.Pending())
	}
}

func TestAppendMaskedFrame(t *testing.T) {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	for _, n := range []int{0, 1, 5, 125, 126, 127, 1000, 65535, 65536, 100_000} {
		for _, op := range []Opcode{OpText, OpBinary, OpPing, OpClose} {
			if op >= OpClose && n > 125 || op == OpClose && n == 1 {
				continue
			}
			payload := strings.Repeat("ab", n/2+1)[:n]
			prefix := []byte("prefix")
			b := AppendMaskedFrame(slices.Clone(prefix), op, payload, key)
			if !bytes.HasPrefix(b, prefix) {
				t.Fatalf("n %d: dst's bytes lost", n)
			}
			frame := b[len(prefix):]
			hlen := map[bool]int{true: 2, false: 4}[n <= 125]
			if n > 65535 {
				hlen = 10
			}
			if frame[0] != 0x80|byte(op) || frame[1]&0x80 == 0 || !bytes.Equal(frame[hlen:hlen+4], key[:]) ||
				len(frame) != hlen+4+n {
				t.Fatalf("op %v n %d: header % x, length %d", op, n, frame[:min(len(frame), 14)], len(frame))
			}
			if n >= 4 && string(frame[hlen+4:hlen+8]) == payload[:4] {
				t.Fatalf("op %v n %d: payload not masked", op, n)
			}
			// It reads back as it was with a server's Parser, and as the frame the tests
			// build by hand.
			if !bytes.Equal(frame, spec{op: op, payload: payload, key: key}.bytes()) {
				t.Fatalf("op %v n %d: not the reference encoding", op, n)
			}
			got, code := feedParser(t, Parser{}, frame)
			if code != 0 || !slices.Equal(got, []msg{{op, payload}}) {
				t.Fatalf("op %v n %d: read back %v, code %d", op, n, got, code)
			}
		}
	}
	// From a []byte, the same.
	if a, b := AppendMaskedFrame(nil, OpText, []byte("hi"), key), AppendMaskedFrame(nil, OpText, "hi", key); !bytes.Equal(a, b) {
		t.Fatalf("[]byte % x, string % x", a, b)
	}
}

func TestFromServerErrorIsSticky(t *testing.T) {
	p := Parser{FromServer: true}
	err := p.Feed(frames(text("masked")), func(Opcode, []byte) bool { return true })
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1002 || !strings.Contains(ce.Reason, "masked") {
		t.Fatalf("err %v", err)
	}
	if again := p.Feed(server(text("ok")), func(Opcode, []byte) bool { t.Fatal("delivered after an error"); return true }); again != err {
		t.Fatalf("second Feed: %v", again)
	}
	if p.Pending() != 0 {
		t.Fatalf("Pending() = %d", p.Pending())
	}
}

func ExampleAppendMaskedFrame() {
	frame := AppendMaskedFrame(nil, OpText, "hi", [4]byte{1, 2, 3, 4})
	fmt.Printf("% x\n", frame)
	var p Parser // a server's: client frames are masked
	_ = p.Feed(frame, func(op Opcode, payload []byte) bool {
		fmt.Printf("%q\n", payload)
		return true
	})
	// Output:
	// 81 82 01 02 03 04 69 6b
	// "hi"
}
