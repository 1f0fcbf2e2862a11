package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// spec describes a client frame for the tests to build.
type spec struct {
	op       Opcode
	payload  string
	more     bool    // FIN clear
	rsv      byte    // reserved bits to set (within 0x70)
	unmasked bool    // no mask bit and no key
	ext      int     // 2 or 8: this extended length even if not minimal; 0: minimal
	key      [4]byte // mask key; the zero key means testKey
}

var testKey = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// bytes returns the frame's encoding.
func (s spec) bytes() []byte {
	b0 := byte(s.op) | s.rsv
	if !s.more {
		b0 |= 0x80
	}
	mask := byte(0x80)
	if s.unmasked {
		mask = 0
	}
	n := len(s.payload)
	b := []byte{b0}
	switch {
	case s.ext == 8 || s.ext == 0 && n > 0xFFFF:
		b = append(b, mask|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	case s.ext == 2 || s.ext == 0 && n > 125:
		b = append(b, mask|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, mask|byte(n))
	}
	if s.unmasked {
		return append(b, s.payload...)
	}
	key := s.key
	if key == [4]byte{} {
		key = testKey
	}
	b = append(b, key[:]...)
	for i := range len(s.payload) {
		b = append(b, s.payload[i]^key[i%4])
	}
	return b
}

func text(s string) spec   { return spec{op: OpText, payload: s} }
func binMsg(s string) spec { return spec{op: OpBinary, payload: s} }
func cont(s string) spec   { return spec{op: OpContinuation, payload: s} }
func ping(s string) spec   { return spec{op: OpPing, payload: s} }
func pong(s string) spec   { return spec{op: OpPong, payload: s} }
func closeMsg(s string) spec {
	return spec{op: OpClose, payload: s}
}

// more clears FIN.
func more(s spec) spec { s.more = true; return s }

// frames concatenates the encodings of specs.
func frames(specs ...spec) []byte {
	var b []byte
	for _, s := range specs {
		b = append(b, s.bytes()...)
	}
	return b
}

// rawHeader returns a masked header with first byte b0, the length byte len7 (mask
// bit added) and ext as the extended length, with the test key.
func rawHeader(b0, len7 byte, ext []byte) []byte {
	b := append([]byte{b0, 0x80 | len7}, ext...)
	return append(b, testKey[:]...)
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

type msg struct {
	op      Opcode
	payload string
}

func (m msg) String() string {
	p := m.payload
	if len(p) > 20 {
		p = fmt.Sprintf("%.20s...(%d bytes)", p, len(p))
	}
	return fmt.Sprintf("{%v %q}", m.op, p)
}

// feed feeds a copy of in, cut at the given offsets, to a new Parser and returns the
// messages delivered and the close code of the error (0 if none).
func feed(t *testing.T, max int, in []byte, cuts ...int) ([]msg, uint16) {
	t.Helper()
	return feedParser(t, Parser{MaxPayload: max}, in, cuts...)
}

// feedParser is feed with a new Parser configured as cfg.
func feedParser(t *testing.T, cfg Parser, in []byte, cuts ...int) ([]msg, uint16) {
	t.Helper()
	in = bytes.Clone(in)
	p := &cfg
	var got []msg
	h := func(op Opcode, payload []byte) bool {
		got = append(got, msg{op, string(payload)})
		return true
	}
	prev := 0
	for _, c := range append(cuts, len(in)) {
		err := p.Feed(in[prev:c], h)
		prev = c
		if err != nil {
			var ce *CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CloseError", err)
			}
			if again := p.Feed([]byte{0x81}, h); again != err {
				t.Fatalf("Feed after error returned %v, want %v", again, err)
			}
			if p.Pending() != 0 {
				t.Fatalf("Pending() = %d after error", p.Pending())
			}
			return got, ce.Code
		}
	}
	return got, 0
}

func TestFeed(t *testing.T) {
	long := func(n int) string { return strings.Repeat("abcdefghij", n/10+1)[:n] }
	type test struct {
		name string
		in   []byte
		max  int
		want []msg
		code uint16
	}
	tests := []test{
		{name: "text", in: frames(text("hello")), want: []msg{{OpText, "hello"}}},
		{name: "empty text", in: frames(text("")), want: []msg{{OpText, ""}}},
		{name: "binary", in: frames(binMsg("\x00\xff\x01")), want: []msg{{OpBinary, "\x00\xff\x01"}}},
		{name: "zero key", in: frames(spec{op: OpText, payload: "hi", key: [4]byte{0, 0, 0, 1}}), want: []msg{{OpText, "hi"}}},
		{
			name: "several frames",
			in:   frames(text("one"), binMsg("two"), ping("p"), pong(""), text("héllo wörld"), closeMsg("\x03\xe8bye")),
			want: []msg{{OpText, "one"}, {OpBinary, "two"}, {OpPing, "p"}, {OpPong, ""}, {OpText, "héllo wörld"}, {OpClose, "\x03\xe8bye"}},
		},
		{name: "length 125", in: frames(text(long(125))), want: []msg{{OpText, long(125)}}},
		{name: "length 126", in: frames(text(long(126))), want: []msg{{OpText, long(126)}}},
		{name: "length 65535", in: frames(binMsg(long(65535))), want: []msg{{OpBinary, long(65535)}}},
		{name: "length 65536", in: frames(text(long(65536))), want: []msg{{OpText, long(65536)}}},
		{name: "non-minimal 16-bit length", in: frames(spec{op: OpText, payload: "abc", ext: 2}), want: []msg{{OpText, "abc"}}},
		{name: "non-minimal 64-bit length", in: frames(spec{op: OpText, payload: "abc", ext: 8}), want: []msg{{OpText, "abc"}}},
		{
			name: "fragmented text with ping",
			in:   frames(more(text("Hel")), ping("are you there"), more(cont("lo, ")), cont("world")),
			want: []msg{{OpPing, "are you there"}, {OpText, "Hello, world"}},
		},
		{
			name: "fragmented binary with pong and close",
			in:   frames(more(binMsg("\x00\x01")), pong("x"), more(cont("")), cont("\x02"), closeMsg("")),
			want: []msg{{OpPong, "x"}, {OpBinary, "\x00\x01\x02"}, {OpClose, ""}},
		},
		{name: "empty fragments", in: frames(more(text("")), cont("")), want: []msg{{OpText, ""}}},
		{
			name: "messages after a fragmented one",
			in:   frames(more(text("a")), cont("b"), text("c"), more(binMsg("d")), cont("e")),
			want: []msg{{OpText, "ab"}, {OpText, "c"}, {OpBinary, "de"}},
		},
		{
			name: "UTF-8 split across fragments",
			in:   frames(more(text("caf\xc3")), more(cont("\xa9 \xe2")), more(cont("\x82")), cont("\xac")),
			want: []msg{{OpText, "café €"}},
		},
		{name: "close with code only", in: frames(closeMsg("\x03\xe8")), want: []msg{{OpClose, "\x03\xe8"}}},
		{name: "control payload 125", in: frames(ping(long(125))), want: []msg{{OpPing, long(125)}}},
		{name: "MaxPayload exact", max: 5, in: frames(text("12345")), want: []msg{{OpText, "12345"}}},
		{name: "MaxPayload exact fragments", max: 5, in: frames(more(text("12")), cont("345")), want: []msg{{OpText, "12345"}}},

		{name: "unmasked", in: frames(spec{op: OpText, payload: "hi", unmasked: true}), code: 1002},
		{name: "unmasked ping", in: frames(spec{op: OpPing, unmasked: true}), code: 1002},
		{name: "RSV1", in: frames(spec{op: OpText, payload: "hi", rsv: 0x40}), code: 1002},
		{name: "RSV2", in: frames(spec{op: OpText, payload: "hi", rsv: 0x20}), code: 1002},
		{name: "RSV3", in: frames(spec{op: OpBinary, payload: "hi", rsv: 0x10}), code: 1002},
		{name: "fragmented ping", in: frames(more(ping("x"))), code: 1002},
		{name: "fragmented close", in: frames(more(closeMsg(""))), code: 1002},
		{name: "ping of 126 bytes", in: frames(ping(long(126))), code: 1002},
		{name: "close of 126 bytes", in: frames(closeMsg(long(126))), code: 1002},
		{name: "pong with 64-bit length", in: rawHeader(0x8A, 127, u64(3)), code: 1002},
		{name: "continuation without message", in: frames(cont("x")), code: 1002},
		{name: "continuation after a complete message", in: frames(more(text("a")), cont("b"), cont("c")), want: []msg{{OpText, "ab"}}, code: 1002},
		{name: "text during fragmented message", in: frames(more(text("a")), text("b")), code: 1002},
		{name: "binary during fragmented message", in: frames(more(text("a")), ping(""), more(binMsg("b"))), want: []msg{{OpPing, ""}}, code: 1002},
		{name: "64-bit length with MSB set", in: rawHeader(0x82, 127, u64(1<<63|5)), code: 1002},
		{name: "close of 1 byte", in: frames(closeMsg("\x03")), code: 1002},
		{name: "frame over MaxPayload", max: 10, in: frames(text("12345678901")), code: 1009},
		{name: "header claiming 1<<40 bytes", max: 1 << 20, in: rawHeader(0x82, 127, u64(1<<40)), code: 1009},
		{name: "header claiming 1<<63-1 bytes without limit", in: rawHeader(0x82, 127, u64(1<<63-1)), code: 1009},
		{name: "fragments over MaxPayload", max: 10, in: frames(more(text("123456")), ping(""), cont("12345")), want: []msg{{OpPing, ""}}, code: 1009},
		{name: "control frame over MaxPayload", max: 4, in: frames(ping("12345")), code: 1009},
		{name: "invalid UTF-8", in: frames(text("ok\xff")), code: 1007},
		{name: "invalid UTF-8 in fragments", in: frames(more(text("caf")), cont("\xc3")), code: 1007},
		{name: "surrogate in UTF-8", in: frames(text("\xed\xa0\x80")), code: 1007},
		{name: "messages before an error", in: frames(text("ok"), binMsg("b"), spec{op: OpText, unmasked: true}), want: []msg{{OpText, "ok"}, {OpBinary, "b"}}, code: 1002},
	}
	for op := range 16 {
		switch Opcode(op) {
		case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
			continue
		}
		tests = append(tests, test{name: fmt.Sprintf("opcode %#x", op), in: frames(spec{op: Opcode(op), payload: "x"}), code: 1002})
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFeed(t, Parser{MaxPayload: tt.max}, tt.in, tt.want, tt.code)
		})
	}
}

// checkFeed feeds in to new Parsers configured as cfg, whole, in two parts split at
// every byte boundary (at some, for long inputs) and byte by byte, and checks that
// each delivers want and ends with close code code (0: no error).
func checkFeed(t *testing.T, cfg Parser, in []byte, want []msg, wantCode uint16) {
	t.Helper()
	check := func(how string, got []msg, code uint16) {
		t.Helper()
		if !slices.Equal(got, want) || code != wantCode {
			t.Fatalf("%s: got %v, code %d; want %v, code %d", how, got, code, want, wantCode)
		}
	}
	got, code := feedParser(t, cfg, in)
	check("one Feed", got, code)

	var splits []int
	if len(in) <= 1024 {
		for i := range len(in) + 1 {
			splits = append(splits, i)
		}
	} else {
		for _, i := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, len(in) / 2, len(in) - 1, len(in)} {
			splits = append(splits, i)
		}
	}
	for _, i := range splits {
		got, code := feedParser(t, cfg, in, i)
		check(fmt.Sprintf("split at %d", i), got, code)
	}

	cuts := make([]int, len(in))
	for i := range cuts {
		cuts[i] = i
	}
	got, code = feedParser(t, cfg, in, cuts...)
	check("byte by byte", got, code)
}

func TestHandlerStops(t *testing.T) {
	in := frames(text("a"), more(binMsg("b")), ping("p"), cont("c"), text("d"))
	for stopAt := range 4 {
		for split := range len(in) + 1 {
			data := bytes.Clone(in)
			var p Parser
			var got []msg
			h := func(op Opcode, payload []byte) bool {
				got = append(got, msg{op, string(payload)})
				return len(got) <= stopAt
			}
			if err := p.Feed(data[:split], h); err != nil {
				t.Fatal(err)
			}
			if len(got) <= stopAt {
				if err := p.Feed(data[split:], h); err != nil {
					t.Fatal(err)
				}
			}
			want := []msg{{OpText, "a"}, {OpPing, "p"}, {OpBinary, "bc"}, {OpText, "d"}}[:stopAt+1]
			if !slices.Equal(got, want) {
				t.Fatalf("stop at %d, split at %d: got %v, want %v", stopAt, split, got, want)
			}
		}
	}
}

func TestReleasesBuffers(t *testing.T) {
	nop := func(Opcode, []byte) bool { return true }
	var p Parser
	if p.partial != nil || p.frag != nil {
		t.Fatal("zero Parser holds buffers")
	}

	// A frame split across two Feeds.
	in := frames(text(strings.Repeat("x", 300)))
	if err := p.Feed(in[:100], nop); err != nil {
		t.Fatal(err)
	}
	if p.Pending() != 100 || p.partial == nil || cap(p.partial) > len(in) {
		t.Fatalf("after half a frame: Pending() = %d, cap(partial) = %d", p.Pending(), cap(p.partial))
	}
	if err := p.Feed(in[100:], nop); err != nil {
		t.Fatal(err)
	}
	if p.Pending() != 0 || p.partial != nil || p.frag != nil {
		t.Fatalf("after the frame: Pending() = %d, partial %v, frag %v", p.Pending(), p.partial != nil, p.frag != nil)
	}

	// A fragmented message, the last fragment split.
	in = frames(more(text("abc")), cont("defgh"))
	if err := p.Feed(in[:len(in)-2], nop); err != nil {
		t.Fatal(err)
	}
	if p.Pending() != 3+len(in)-2-len(frames(more(text("abc")))) || len(p.frag) != 3 {
		t.Fatalf("after a fragment: Pending() = %d, len(frag) = %d", p.Pending(), len(p.frag))
	}
	if err := p.Feed(in[len(in)-2:], nop); err != nil {
		t.Fatal(err)
	}
	if p.Pending() != 0 || p.partial != nil || p.frag != nil || p.fragOp != 0 {
		t.Fatalf("after the message: Pending() = %d, partial %v, frag %v", p.Pending(), p.partial != nil, p.frag != nil)
	}

	// Complete frames leave nothing behind.
	if err := p.Feed(frames(text("a"), ping("b")), nop); err != nil {
		t.Fatal(err)
	}
	if p.partial != nil || p.frag != nil {
		t.Fatal("complete frames left buffers")
	}
}

// A header claiming a huge length must not make the parser allocate that much, with
// or without MaxPayload.
func TestHugeClaim(t *testing.T) {
	nop := func(Opcode, []byte) bool { return true }
	hdr := rawHeader(0x82, 127, u64(1<<40))

	start := time.Now()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	allocs := testing.AllocsPerRun(100, func() {
		p := Parser{MaxPayload: 1 << 20}
		err := p.Feed(hdr, nop)
		if ce, ok := err.(*CloseError); !ok || ce.Code != 1009 {
			t.Fatalf("got %v, want close code 1009", err)
		}
	})
	runtime.ReadMemStats(&after)
	if allocs > 1 { // the error
		t.Errorf("%v allocations per Feed", allocs)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("%d bytes allocated in 101 Feeds", d)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}

	// Without a limit the partial frame grows with the bytes received only.
	var p Parser
	if err := p.Feed(bytes.Clone(hdr), nop); err != nil {
		t.Fatal(err)
	}
	if c := cap(p.partial); c > 512 {
		t.Fatalf("cap(partial) = %d after a header", c)
	}
	chunk := make([]byte, 10000)
	received := len(hdr)
	for range 10 {
		if err := p.Feed(chunk, nop); err != nil {
			t.Fatal(err)
		}
		received += len(chunk)
		if p.Pending() != received || cap(p.partial) > 2*received {
			t.Fatalf("received %d: Pending() = %d, cap(partial) = %d", received, p.Pending(), cap(p.partial))
		}
	}
}

// smallFrames returns complete small frames of each kind.
func smallFrames() []byte {
	return frames(text("hello"), binMsg("\x01\x02\x03"), ping("p"), pong(""), text(strings.Repeat("é", 100)), closeMsg("\x03\xe8"))
}

func TestFeedNoAlloc(t *testing.T) {
	tmpl := smallFrames()
	buf := make([]byte, len(tmpl))
	var p Parser
	n := 0
	h := func(op Opcode, payload []byte) bool { n++; return true }
	allocs := testing.AllocsPerRun(100, func() {
		copy(buf, tmpl)
		if err := p.Feed(buf, h); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Feed, want 0", allocs)
	}
	if n != 6*101 {
		t.Fatalf("%d messages, want %d", n, 6*101)
	}
}

// The payload handed to h is a slice of data itself.
func TestFeedInPlace(t *testing.T) {
	data := frames(text("hello"))
	var p Parser
	err := p.Feed(data, func(op Opcode, payload []byte) bool {
		if &payload[0] != &data[6] {
			t.Error("payload is not in data")
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(data[6:]) != "hello" {
		t.Fatalf("data not unmasked in place: %q", data[6:])
	}
}

func TestUnmask(t *testing.T) {
	keys := [][4]byte{{0, 0, 0, 0}, {1, 2, 3, 4}, {0xff, 0x00, 0x80, 0x7f}}
	for _, key := range keys {
		for n := range 100 {
			b := make([]byte, n)
			want := make([]byte, n)
			for i := range b {
				b[i] = byte(i * 7)
				want[i] = b[i] ^ key[i%4]
			}
			unmask(b, binary.LittleEndian.Uint32(key[:]))
			if !bytes.Equal(b, want) {
				t.Fatalf("key %x, length %d: got %x, want %x", key, n, b, want)
			}
		}
	}
}

func TestCloseErrorString(t *testing.T) {
	e := &CloseError{Code: 1009, Reason: "message too big"}
	if s := e.Error(); !strings.Contains(s, "1009") || !strings.Contains(s, "message too big") {
		t.Fatalf("Error() = %q", s)
	}
}

func BenchmarkFeed(b *testing.B) {
	// 30 text frames of 128 bytes (136 with the header): 4080 bytes.
	var specs []spec
	for i := range 30 {
		specs = append(specs, text(strings.Repeat(string(rune('a'+i%26)), 128)))
	}
	tmpl := frames(specs...)
	buf := make([]byte, len(tmpl))
	var p Parser
	h := func(Opcode, []byte) bool { return true }
	b.SetBytes(int64(len(tmpl)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, tmpl) // Feed unmasks in place
		if err := p.Feed(buf, h); err != nil {
			b.Fatal(err)
		}
	}
}
