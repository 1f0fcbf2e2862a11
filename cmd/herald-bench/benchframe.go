package main

// The fan-out messages: what a publisher sends and what a subscriber parses.
//
//	publisher → server   42/bench,["broadcast","fanout",{"t":1732000000123456789,"seq":17,"pad":"xx…"}]
//	server → subscriber  42/bench,["bench",{"t":1732000000123456789,"seq":17,"pad":"xx…"}]
//
// The payload object is exactly PayloadBytes long (the pad absorbs the
// difference), so every message of a run is the same size.

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// payloadOverhead is the payload object without the digits of t and seq and
// without the pad: {"t":,"seq":,"pad":""}.
const payloadOverhead = len(`{"t":,"seq":,"pad":""}`)

// MinPayloadBytes is the smallest payload that fits a 19-digit timestamp and a
// 7-digit sequence number with an empty pad.
const MinPayloadBytes = payloadOverhead + 19 + 7

// BroadcastFrame builds the publishers' frames. Its buffer is reused: the
// slice Append returns is valid until the next call.
type BroadcastFrame struct {
	prefix  []byte // 42/bench,["broadcast","room",
	payload int
	buf     []byte
}

// NewBroadcastFrame prepares frames for namespace nsp and room ("" broadcasts
// to the whole namespace: the room argument is null), with payloads of
// payloadBytes.
func NewBroadcastFrame(nsp, room string, payloadBytes int) *BroadcastFrame {
	p := []byte("42")
	if nsp != "" && nsp != "/" {
		p = append(p, nsp...)
		p = append(p, ',')
	}
	p = append(p, `["broadcast",`...)
	if room == "" {
		p = append(p, "null"...)
	} else {
		q, _ := json.Marshal(room) // a string always marshals
		p = append(p, q...)
	}
	p = append(p, ',')
	return &BroadcastFrame{prefix: p, payload: payloadBytes, buf: make([]byte, 0, len(p)+payloadBytes+64)}
}

// Append returns the frame for one message stamped with t (unix ns) and seq.
func (f *BroadcastFrame) Append(t, seq int64) []byte {
	b := append(f.buf[:0], f.prefix...)
	b = AppendPayload(b, t, seq, f.payload)
	b = append(b, ']')
	f.buf = b
	return b
}

// AppendPayload appends {"t":T,"seq":SEQ,"pad":"xx…"} padded to size bytes
// (longer only when size is too small for the numbers).
func AppendPayload(dst []byte, t, seq int64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendInt(dst, t, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `,"pad":"`...)
	for n := size - (len(dst) - start) - len(`"}`); n > 0; n-- {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

var benchEventPrefix = []byte(`["bench",{`)

// plainBenchPrefix starts the same event in the plain WebSocket envelope,
// {"event":"bench","data":{…}}.
var plainBenchPrefix = []byte(`{"event":"bench","data":{`)

// ParseBenchEvent reads t and seq from the arguments of a "bench" event,
// `["bench",{"t":…,"seq":…,…}]`. It scans the top-level members of the
// object until it has both integers (so a long pad after them is never
// read); anything it does not expect (whitespace, escapes in keys, numbers
// written as floats, other member types before t and seq) goes to a full
// encoding/json decode, so odd but valid input still parses. It does not
// validate the rest of the JSON.
//
// data may also be the plain WebSocket envelope {"event":"bench","data":{…}}.
func ParseBenchEvent(data []byte) (t, seq int64, ok bool) {
	var i int
	switch {
	case bytes.HasPrefix(data, benchEventPrefix):
		i = len(benchEventPrefix)
	case bytes.HasPrefix(data, plainBenchPrefix):
		i = len(plainBenchPrefix)
	default:
		return parseBenchEventSlow(data)
	}
	var gotT, gotSeq bool
	for {
		// A member: "key":value
		if i >= len(data) || data[i] != '"' {
			return parseBenchEventSlow(data)
		}
		j := i + 1
		for j < len(data) && data[j] != '"' && data[j] != '\\' {
			j++
		}
		if j+1 >= len(data) || data[j] != '"' || data[j+1] != ':' {
			return parseBenchEventSlow(data)
		}
		key := data[i+1 : j]
		i = j + 2
		switch string(key) { // no allocation: the compiler compares in place
		case "t":
			var good bool
			if t, i, good = scanInt(data, i); !good {
				return parseBenchEventSlow(data)
			}
			gotT = true
		case "seq":
			var good bool
			if seq, i, good = scanInt(data, i); !good {
				return parseBenchEventSlow(data)
			}
			gotSeq = true
		default:
			var good bool
			if i, good = skipScalar(data, i); !good {
				return parseBenchEventSlow(data)
			}
		}
		if gotT && gotSeq {
			return t, seq, true
		}
		if i >= len(data) || data[i] != ',' {
			return parseBenchEventSlow(data) // '}' without both, or something odd
		}
		i++
	}
}

// scanInt reads a JSON integer at data[i:] that ends at ',' or '}'.
func scanInt(data []byte, i int) (v int64, next int, ok bool) {
	neg := false
	if i < len(data) && data[i] == '-' {
		neg = true
		i++
	}
	start := i
	var u uint64
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		if i-start == 19 { // 20 digits never fit; 19 always fit a uint64
			return 0, i, false
		}
		u = u*10 + uint64(data[i]-'0')
		i++
	}
	if i == start || i >= len(data) || (data[i] != ',' && data[i] != '}') || u > math.MaxInt64 {
		return 0, i, false
	}
	if i-start > 1 && data[start] == '0' {
		return 0, i, false // leading zero: not JSON
	}
	v = int64(u)
	if neg {
		v = -v
	}
	return v, i, true
}

// skipScalar skips a string without escapes, or a number/true/false/null, at
// data[i:]. Anything else (escapes, objects, arrays) is refused.
func skipScalar(data []byte, i int) (next int, ok bool) {
	if i >= len(data) {
		return i, false
	}
	if data[i] == '"' {
		j := bytes.IndexByte(data[i+1:], '"')
		if j < 0 || bytes.IndexByte(data[i+1:i+1+j], '\\') >= 0 {
			return i, false
		}
		return i + 1 + j + 1, true
	}
	for i < len(data) && data[i] != ',' && data[i] != '}' {
		switch c := data[i]; {
		case c == '{' || c == '[' || c == '"' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return i, false
		}
		i++
	}
	return i, i < len(data)
}

// parseBenchEventSlow is the encoding/json fallback.
func parseBenchEventSlow(data []byte) (t, seq int64, ok bool) {
	var name string
	var payload json.RawMessage
	var args []json.RawMessage
	var env struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	switch {
	case json.Unmarshal(data, &args) == nil && len(args) >= 2:
		if json.Unmarshal(args[0], &name) != nil {
			return 0, 0, false
		}
		payload = args[1]
	case json.Unmarshal(data, &env) == nil:
		name, payload = env.Event, env.Data
	default:
		return 0, 0, false
	}
	if name != "bench" {
		return 0, 0, false
	}
	var p struct {
		T   json.RawMessage `json:"t"`
		Seq json.RawMessage `json:"seq"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return 0, 0, false
	}
	t, okT := numberToInt(p.T)
	seq, okSeq := numberToInt(p.Seq)
	return t, seq, okT && okSeq
}

// numberToInt accepts a JSON number that holds an integer, also in float form
// (1.7320000001234568e+18, as a server that decodes to float64 may write it).
func numberToInt(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false // absent, a string, or not a number
	}
	n := string(raw)
	if v, err := strconv.ParseInt(n, 10, 64); err == nil {
		return v, true
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}
