package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendPayload(t *testing.T) {
	const ts = 1732000000123456789
	for _, size := range []int{MinPayloadBytes, 100, 1000} {
		for _, seq := range []int64{0, 17, 9_999_999} {
			p := AppendPayload(nil, ts, seq, size)
			if len(p) != size {
				t.Errorf("size %d seq %d: %d bytes: %s", size, seq, len(p), p)
			}
			var v struct {
				T, Seq int64
				Pad    string
			}
			if err := json.Unmarshal(p, &v); err != nil || v.T != ts || v.Seq != seq || strings.Trim(v.Pad, "x") != "" {
				t.Errorf("payload %s: %+v, %v", p, v, err)
			}
		}
	}
	// Too small a size only means no padding.
	if p := AppendPayload(nil, ts, 5, 10); string(p) != `{"t":1732000000123456789,"seq":5,"pad":""}` {
		t.Errorf("small payload %s", p)
	}
}

func TestBroadcastFrame(t *testing.T) {
	f := NewBroadcastFrame("/bench", "fanout", 60)
	got := string(f.Append(1732000000123456789, 3))
	want := `42/bench,["broadcast","fanout",{"t":1732000000123456789,"seq":3,"pad":"xxxxxxxxxxxxxxxxxx"}]` // 60 = 22 + 19 + 1 + 18
	if got != want {
		t.Errorf("frame\n%s\nwant\n%s", got, want)
	}
	p, err := ParsePacket([]byte(got))
	if err != nil || string(p.Nsp) != "/bench" || p.SIO != sioEvent {
		t.Errorf("frame does not parse as an event on /bench: %+v %v", p, err)
	}
	if got := string(NewBroadcastFrame("/", "", 0).Append(1, 2)); got != `42["broadcast",null,{"t":1,"seq":2,"pad":""}]` {
		t.Errorf("root namespace, null room: %s", got)
	}
	if got := string(NewBroadcastFrame("/b", `a"b`, 0).Append(1, 2)); got != `42/b,["broadcast","a\"b",{"t":1,"seq":2,"pad":""}]` {
		t.Errorf("quoted room: %s", got)
	}
	// Append reuses its buffer without allocating.
	if n := testing.AllocsPerRun(100, func() { f.Append(1732000000123456789, 12345) }); n != 0 {
		t.Errorf("Append allocates %.1f times", n)
	}
}

func TestParseBenchEvent(t *testing.T) {
	ok := []struct {
		in     string
		t, seq int64
	}{
		{`["bench",{"t":1732000000123456789,"seq":17,"pad":"xxxx"}]`, 1732000000123456789, 17},
		{`["bench",{"seq":0,"t":5}]`, 5, 0},
		{`["bench",{"t":-3,"seq":9223372036854775807}]`, -3, 9223372036854775807},
		{`["bench",{"pad":"x,y}","t":1,"seq":2}]`, 1, 2},                // members before, with , and } in a string
		{`["bench",{"a":null,"b":true,"c":1.5e3,"t":1,"seq":2}]`, 1, 2}, // scalars skipped
		// The slow path: what the scanner leaves to encoding/json.
		{`["bench",{"t":1732000000123456800,"seq":1}]`, 1732000000123456800, 1},
		{`["bench",{"t":1.7320000001234568e+18,"seq":1.0}]`, 1732000000123456768, 1}, // float64-printed
		{`["bench", {"t": 1, "seq": 2}]`, 1, 2},                                      // whitespace
		{` ["bench",{"t":1,"seq":2}]`, 1, 2},
		{`["bench",{"x":{"t":9},"t":1,"seq":2}]`, 1, 2}, // nested object before: not the outer t
		{`["bench",{"x":"\"t\":9","t":1,"seq":2}]`, 1, 2},
		{`["bench",{"\u0074":1,"seq":2}]`, 1, 2}, // escaped key
		{`["bench",{"t":1,"seq":2},"extra"]`, 1, 2},
		// The plain WebSocket envelope, fast and slow.
		{`{"event":"bench","data":{"t":1732000000123456789,"seq":17,"pad":"xx"}}`, 1732000000123456789, 17},
		{`{"data":{"t":1,"seq":2},"event":"bench"}`, 1, 2},
		{`{"event": "bench", "data": {"t": 1, "seq": 2}}`, 1, 2},
	}
	for _, tt := range ok {
		gt, gs, good := ParseBenchEvent([]byte(tt.in))
		if !good || gt != tt.t || gs != tt.seq {
			t.Errorf("ParseBenchEvent(%s) = %d, %d, %v; want %d, %d", tt.in, gt, gs, good, tt.t, tt.seq)
		}
	}
	bad := []string{
		``, `[]`, `["bench"]`, `["other",{"t":1,"seq":2}]`, `["bench",{"t":1}]`, `["bench",{"seq":1}]`,
		`["bench",{"t":"1","seq":2}]`, `["bench",{"t":1.5,"seq":2}]`, `["bench",{"t":1e40,"seq":2}]`,
		`["bench",{"t":99999999999999999999,"seq":2}]`, `["bench",{"t":1,"seq":2`, `["bench",{"t":01,"seq":2}]`,
		`["bench",null]`, `["bench",[1,2]]`, `{"t":1,"seq":2}`, `["bench",{"t":1,"seq":}]`,
		`{"event":"other","data":{"t":1,"seq":2}}`, `{"event":"bench","data":{"t":1}}`, `{"event":"bench"}`,
	}
	for _, in := range bad {
		if gt, gs, good := ParseBenchEvent([]byte(in)); good {
			t.Errorf("ParseBenchEvent(%s) = %d, %d, true; want failure", in, gt, gs)
		}
	}
	// The fast path allocates nothing.
	frame := []byte(`["bench",{"t":1732000000123456789,"seq":17,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}]`)
	if n := testing.AllocsPerRun(100, func() { ParseBenchEvent(frame) }); n != 0 {
		t.Errorf("fast path allocates %.1f times", n)
	}
}

// FuzzParseBenchEvent: no input panics, and on valid JSON the scanner agrees
// with encoding/json (except with repeated keys, where it keeps the first t
// and seq pair it completes, and encoding/json the last).
func FuzzParseBenchEvent(f *testing.F) {
	for _, s := range []string{
		`["bench",{"t":1732000000123456789,"seq":17,"pad":"xxxx"}]`, `["bench",{"seq":0,"t":5}]`,
		`["bench",{"pad":"x,y}","t":1,"seq":2}]`, `["bench", {"t": 1, "seq": 2}]`, `["bench",{"t":1.5e3,"seq":2}]`,
		`["bench",{"\u0074":1,"seq":2}]`, `["bench",{"t":-0,"seq":2}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ft, fs, fok := ParseBenchEvent(data)
		if !fok || !json.Valid(data) || bytes.Count(data, []byte(`"t"`)) > 1 || bytes.Count(data, []byte(`"seq"`)) > 1 {
			return
		}
		st, ss, sok := parseBenchEventSlow(data)
		if !sok || st != ft || ss != fs {
			t.Fatalf("%s: scanner %d, %d; encoding/json %d, %d, %v", data, ft, fs, st, ss, sok)
		}
	})
}

var benchFrame = []byte(`["bench",{"t":1732000000123456789,"seq":17,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}]`)

// BenchmarkParseBenchEvent/scan vs /encoding-json: why the scanner exists.
func BenchmarkParseBenchEvent(b *testing.B) {
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ParseBenchEvent(benchFrame)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parseBenchEventSlow(benchFrame)
		}
	})
}
