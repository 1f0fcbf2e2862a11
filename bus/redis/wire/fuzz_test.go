package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Every decoder is fuzzed with a round trip: what decodes must encode, and decoding
// that encoding must give the same value (and encoding it again the same bytes).

func FuzzDecodeBroadcast(f *testing.F) {
	for _, tc := range broadcastCaptures {
		f.Add(unhex(f, tc.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeBroadcast(b, Limits{})
		if err != nil {
			return
		}
		checkArgsJSON(t, m.Packet.Data)
		enc, err := EncodeBroadcast(&m)
		if err != nil {
			t.Fatalf("encode %+v: %v", m, err)
		}
		again, err := DecodeBroadcast(enc, Limits{})
		if err != nil {
			t.Fatalf("decode own encoding %x: %v", enc, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip changed the value:\n%+v\n%+v", m, again)
		}
		if enc2, err := EncodeBroadcast(&again); err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("second encoding differs: %x, %v", enc2, err)
		}
		if uid, err := BroadcastUID(b); err != nil || uid != m.UID {
			t.Fatalf("BroadcastUID = %q, %v; want %q", uid, err, m.UID)
		}
	})
}

func FuzzDecodeArgs(f *testing.F) {
	for _, s := range []string{"90", "93 c0 c2 c3", "92 c400 82 a161 c40109 a162 92 c500010a 90",
		"91 d7ffa1a5d60065937d25", "91 c70cff 000003e8 ffffffffffffffff", "92 ca3dcccccd cb7ff8000000000000",
		"94 cfffffffffffffffff d38000000000000000 cb444b1ae4d6e2ef50 cb8000000000000000", "92 a4ff61e282 a3eda080"} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeArgs(b, Limits{MaxDepth: 100})
		if err != nil {
			return
		}
		checkArgsJSON(t, a)
		enc, err := AppendArgs(nil, a)
		if err != nil {
			t.Fatalf("encode %q: %v", a.Raw, err)
		}
		again, err := DecodeArgs(enc, Limits{MaxDepth: 100})
		if err != nil {
			t.Fatalf("decode own encoding %x: %v", enc, err)
		}
		if !reflect.DeepEqual(again, a) {
			t.Fatalf("round trip changed the value:\n%q\n%q", a.Raw, again.Raw)
		}
		if enc2, err := AppendArgs(nil, again); err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("second encoding differs: %x, %v", enc2, err)
		}
	})
}

// FuzzAppendArgs runs the other way: JSON in, msgpack, JSON out, and round again. The
// first trip may change the value as JavaScript would (1e700 is Infinity, which
// JSON.stringify writes as null); from then on nothing may change.
func FuzzAppendArgs(f *testing.F) {
	for _, s := range []string{`"hello"`, `{"b":1,"a":[true,null,-0,1.5e300,1e21]}`, `{"_placeholder":true,"num":1}`,
		`[{"_placeholder":true,"num":0,"x":[{}]},{"_placeholder":false}]`, `"\ud83d\ude00\u0000"`, `18446744073709551616`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		atts := [][]byte{{1}, {}, []byte("hi")}
		enc, err := AppendArgs(nil, jsonArgs(atts, s))
		if err != nil {
			return
		}
		a, err := DecodeArgs(enc, Limits{})
		if err != nil {
			t.Fatalf("decode encoding of %q (%x): %v", s, enc, err)
		}
		checkArgsJSON(t, a)
		enc2, err := AppendArgs(nil, a)
		if err != nil {
			t.Fatalf("encode %q: %v", a.Raw, err)
		}
		again, err := DecodeArgs(enc2, Limits{})
		if err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("%q: decoded %q, then %q, %v", s, a.Raw, again.Raw, err)
		}
		if enc3, err := AppendArgs(nil, again); err != nil || !bytes.Equal(enc3, enc2) {
			t.Fatalf("%q: msgpack %x, then %x, %v", s, enc2, enc3, err)
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	for _, tc := range requestCaptures {
		if tc.hex {
			f.Add(unhex(f, tc.wire))
		} else {
			f.Add([]byte(tc.wire))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeRequest(b, Limits{})
		if err != nil {
			return
		}
		enc, err := EncodeRequest(req)
		if err != nil {
			t.Fatalf("encode %#v: %v", req, err)
		}
		again, err := DecodeRequest(enc, Limits{})
		if err != nil {
			t.Fatalf("decode own encoding %q: %v", enc, err)
		}
		if !reflect.DeepEqual(again, req) {
			t.Fatalf("round trip changed the value:\n%#v\n%#v", req, again)
		}
		if enc2, err := EncodeRequest(again); err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("second encoding differs: %q, %v", enc2, err)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	for _, tc := range responseCaptures {
		if tc.hex {
			f.Add(unhex(f, tc.wire))
		} else {
			f.Add([]byte(tc.wire))
		}
	}
	// The pending request's type is derived from its id, so that every type is reached.
	pending := func(id string) (RequestType, bool) { return RequestType(len(id) % 7), len(id) > 0 }
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := DecodeResponse(b, Limits{}, pending)
		if err != nil {
			return
		}
		enc, err := EncodeResponse(resp)
		if err != nil {
			t.Fatalf("encode %#v: %v", resp, err)
		}
		again, err := DecodeResponse(enc, Limits{}, pending)
		if err != nil {
			t.Fatalf("decode own encoding %q: %v", enc, err)
		}
		if !reflect.DeepEqual(again, resp) {
			t.Fatalf("round trip changed the value:\n%#v\n%#v", resp, again)
		}
		if enc2, err := EncodeResponse(again); err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("second encoding differs: %q, %v", enc2, err)
		}
	})
}

func FuzzParseChannel(f *testing.F) {
	f.Add("", "socket.io#/#room1#")
	f.Add("app", "app#/admin#")
	f.Fuzz(func(t *testing.T, key, channel string) {
		nsp, room, ok := ParseChannel(key, channel)
		if !ok {
			return
		}
		c := NewChannels(key, nsp)
		if got, ok := c.ParseBroadcast(channel); !ok || got != room {
			t.Fatalf("ParseChannel(%q, %q) = %q, %q but ParseBroadcast gives %q, %v", key, channel, nsp, room, got, ok)
		}
		if rebuilt := c.Room(room); rebuilt != channel && c.Broadcast != channel {
			t.Fatalf("ParseChannel(%q, %q) = %q, %q, which name %q", key, channel, nsp, room, rebuilt)
		}
	})
}

// checkArgsJSON fails unless every value is valid JSON and every placeholder numbers
// its attachment in order.
func checkArgsJSON(t *testing.T, a Args) {
	t.Helper()
	n := 0
	for _, r := range a.Raw {
		if !json.Valid(r) {
			t.Fatalf("invalid JSON %q", r)
		}
		n += strings.Count(string(r), `{"_placeholder":true,"num":`)
	}
	if n != len(a.Attachments) {
		t.Fatalf("%d placeholders for %d attachments in %q", n, len(a.Attachments), a.Raw)
	}
}
