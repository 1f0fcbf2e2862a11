package wsframe

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzFeed feeds the input in two parts, cut at a place its first byte picks, and
// checks the result against feeding it whole, to a client's frames Parser and to a
// FromServer one (the input read as a server's frames). It also checks that the input,
// as a payload, reads back from AppendMaskedFrame.
func FuzzFeed(f *testing.F) {
	seeds := [][]byte{
		{},
		frames(text("hello")),
		frames(text("one"), binMsg("two"), ping("p"), pong(""), closeMsg("\x03\xe8bye")),
		frames(text(strings.Repeat("x", 200))),
		frames(binMsg(strings.Repeat("y", 70000))),
		frames(spec{op: OpText, payload: "abc", ext: 8}),
		frames(more(text("Hel")), ping("?"), more(cont("lo")), cont(", world")),
		frames(more(text("caf\xc3")), cont("\xa9")),
		frames(more(binMsg("a")), cont("b"), text("c")),
		frames(closeMsg("\x03")),
		frames(text("\xff")),
		frames(more(text("a")), cont("\xc3")),
		frames(spec{op: OpText, payload: "hi", unmasked: true}),
		frames(spec{op: OpText, payload: "hi", rsv: 0x40}),
		frames(spec{op: 3, payload: "x"}),
		frames(more(ping("x"))),
		frames(ping(strings.Repeat("p", 126))),
		frames(cont("x")),
		frames(more(text("a")), text("b")),
		rawHeader(0x82, 127, u64(1<<63|5)),
		rawHeader(0x82, 127, u64(1<<40)),
		frames(text("ok"))[:4],
		// A server's frames, for the FromServer Parser.
		server(text("hello")),
		server(text("one"), binMsg("two"), ping("p"), pong(""), closeMsg("\x03\xe8bye")),
		server(text(strings.Repeat("x", 200))),
		server(binMsg(strings.Repeat("y", 70000))),
		server(spec{op: OpText, payload: "abc", ext: 8}),
		server(more(text("Hel")), ping("?"), more(cont("lo")), cont(", world")),
		server(more(text("caf\xc3")), cont("\xa9")),
		server(closeMsg("\x03")),
		server(text("\xff")),
		server(ping(strings.Repeat("p", 126))),
		rawServerHeader(0x82, 127, u64(1<<63|5)),
		rawServerHeader(0x82, 127, u64(1<<40)),
		server(text("ok"))[:3],
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cut := 0
		if len(in) > 0 {
			cut = int(in[0]) % (len(in) + 1)
		}
		for _, fromServer := range []bool{false, true} {
			whole, wholeCode, wholePending := fuzzFeed(t, fromServer, in, len(in))
			split, splitCode, splitPending := fuzzFeed(t, fromServer, in, cut)
			if !slices.Equal(whole, split) || wholeCode != splitCode || wholePending != splitPending {
				t.Fatalf("FromServer %v, split at %d: got %v, code %d, pending %d; whole: %v, code %d, pending %d",
					fromServer, cut, split, splitCode, splitPending, whole, wholeCode, wholePending)
			}
		}
		key := [4]byte{0x5a, cutByte(in, 1), cutByte(in, 2), 0xa5}
		op := OpBinary
		if utf8.Valid(in) {
			op = OpText
		}
		var p Parser
		got := 0
		if err := p.Feed(AppendMaskedFrame(nil, op, in, key), func(gotOp Opcode, payload []byte) bool {
			got++
			if gotOp != op || !bytes.Equal(payload, in) {
				t.Fatalf("AppendMaskedFrame read back as %v %q, want %v %q", gotOp, payload, op, in)
			}
			return true
		}); err != nil || got != 1 {
			t.Fatalf("AppendMaskedFrame read back: %v, %d messages", err, got)
		}
	})
}

// cutByte returns in[i], or 0 past its end.
func cutByte(in []byte, i int) byte {
	if i < len(in) {
		return in[i]
	}
	return 0
}

// fuzzFeed feeds a copy of in to a new Parser (a FromServer one if fromServer) in two
// parts cut at cut, checks what it delivers, and returns it with the close code (0 if
// none) and Pending.
func fuzzFeed(t *testing.T, fromServer bool, in []byte, cut int) ([]msg, uint16, int) {
	data := bytes.Clone(in)
	p := &Parser{MaxPayload: 1 << 16, FromServer: fromServer}
	var got []msg
	total := 0
	h := func(op Opcode, payload []byte) bool {
		switch op {
		case OpText:
			if !utf8.Valid(payload) {
				t.Fatalf("invalid UTF-8 text delivered: %q", payload)
			}
		case OpBinary, OpPing, OpPong:
		case OpClose:
			if len(payload) == 1 {
				t.Fatalf("close payload of 1 byte delivered")
			}
		default:
			t.Fatalf("opcode %v delivered", op)
		}
		if op >= OpClose && len(payload) > 125 {
			t.Fatalf("control payload of %d bytes delivered", len(payload))
		}
		if len(payload) > p.MaxPayload {
			t.Fatalf("payload of %d bytes delivered", len(payload))
		}
		total += len(payload)
		got = append(got, msg{op, string(payload)})
		return true
	}
	var code uint16
	for _, part := range [][]byte{data[:cut], data[cut:]} {
		err := p.Feed(part, h)
		if err != nil {
			var ce *CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CloseError", err)
			}
			switch ce.Code {
			case 1002, 1007, 1009:
			default:
				t.Fatalf("close code %d", ce.Code)
			}
			code = ce.Code
			break
		}
	}
	if total > len(in) {
		t.Fatalf("%d payload bytes delivered from %d bytes", total, len(in))
	}
	if p.Pending() > len(in) {
		t.Fatalf("Pending() = %d after %d bytes", p.Pending(), len(in))
	}
	return got, code, p.Pending()
}
