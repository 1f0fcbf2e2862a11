package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestAppendArgs converts JSON values to msgpack. The expected bytes are what
// notepack.io 3.0.1 writes for the value JSON.parse makes of the JSON, except where a
// comment says otherwise.
func TestAppendArgs(t *testing.T) {
	atts := [][]byte{{1, 2, 3}, []byte("hi")}
	tests := []struct {
		json string
		hex  string
	}{
		{`"hello"`, "a568656c6c6f"},
		{`""`, "a0"},
		{`"a\nb\u00e9\ud83d\ude00"`, "a9 610a62 c3a9 f09f9880"},
		{`true`, "c3"},
		{`false`, "c2"},
		{`null`, "c0"},
		{`0`, "00"},
		{`-0`, "00"}, // Math.floor(-0) === -0: an integer, written as 0
		{`-0.0`, "00"},
		{`1.0`, "01"},
		{`1e3`, "cd03e8"},
		{`127`, "7f"},
		{`128`, "cc80"},
		{`-32`, "e0"},
		{`-33`, "d0df"},
		{`65536`, "ce00010000"},
		{`-2147483649`, "d3ffffffff7fffffff"},
		{`9007199254740992`, "cf0020000000000000"},
		// JavaScript would round these to 2^53 and 2^64; Herald keeps every digit.
		{`9007199254740993`, "cf0020000000000001"},
		{`18446744073709551615`, "cfffffffffffffffff"},
		// Integers from 2^64 up: float64. notepack.io writes them as a wrapped uint64
		// (2^64 as 0), which Node then decodes to the wrong number.
		{`18446744073709551616`, "cb43f0000000000000"},
		{`1e21`, "cb444b1ae4d6e2ef50"},
		{`-9223372036854775809`, "d38000000000000000"}, // JSON.parse rounds it to -2^63
		{`1.5`, "cb3ff8000000000000"},
		{`-0.25`, "cbbfd0000000000000"},
		{`1e-7`, "cb3e7ad7f29abcaf48"},
		{`1e400`, "cb7ff0000000000000"}, // Infinity, as JSON.parse gives
		{`[]`, "90"},
		{` [ 1 , [ ] , { } ] `, "93 01 90 80"},
		{`{"b":1,"a":[true,null]}`, "82 a162 01 a161 92 c3 c0"}, // key order kept
		// Duplicate keys are kept. notepack.io, given JSON.parse's object, writes only
		// a:2 (81a16102); a decoder keeps the last, so both decode to the same object.
		{`{"a":1,"a":2}`, "82 a161 01 a161 02"},
		{`{"_placeholder":true,"num":0}`, "c403010203"},
		{`{"num":1,"_placeholder":true}`, "c4026869"},
		{`{"\u005fplaceholder":true,"num":1.0}`, "c4026869"},
		{`[{"_placeholder":true,"num":1,"x":[{"y":[2]}]},{"z":[3]}]`, "92 c4026869 81 a17a 91 03"},
		{`{"_placeholder":"true","num":0}`, "82 ac5f706c616365686f6c646572 a474727565 a36e756d 00"},
		{`{"x":{"_placeholder":true,"num":0}}`, "81 a178 c403010203"},
	}
	for _, tc := range tests {
		got, err := AppendArgs(nil, Args{Raw: []json.RawMessage{json.RawMessage(tc.json)}, Attachments: atts})
		if err != nil {
			t.Errorf("%s: %v", tc.json, err)
			continue
		}
		if want := append([]byte{0x91}, unhex(t, tc.hex)...); !bytes.Equal(got, want) {
			t.Errorf("%s: got %x, want %x", tc.json, got, want)
		}
	}
}

func TestAppendArgsNilAttachment(t *testing.T) {
	got, err := AppendArgs([]byte{0xff}, jsonArgs([][]byte{nil}, `{"_placeholder":true,"num":0}`, `{"_placeholder":true,"num":0}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "ff 92 c400 c400"); !bytes.Equal(got, want) {
		t.Errorf("got %x, want %x (a nil attachment is an empty bin, appended after dst)", got, want)
	}
}

func TestAppendArgsErrors(t *testing.T) {
	tests := []struct {
		json string
		want error
	}{
		// encoding/json's Valid refuses more than 10000 levels.
		{strings.Repeat("[", maxEncodeDepth+1) + strings.Repeat("]", maxEncodeDepth+1), ErrInvalidJSON},
		{``, ErrInvalidJSON},
		{`{`, ErrInvalidJSON},
		{`[1,]`, ErrInvalidJSON},
		{`01`, ErrInvalidJSON},
		{`{"_placeholder":true,"num":2}`, ErrInvalidPlaceholder},
		{`{"_placeholder":true,"num":-1}`, ErrInvalidPlaceholder},
		{`{"_placeholder":true,"num":0.5}`, ErrInvalidPlaceholder},
		{`{"_placeholder":true,"num":"0"}`, ErrInvalidPlaceholder},
		{`{"_placeholder":true}`, ErrInvalidPlaceholder},
		{`{"_placeholder":true,"num":0,"num":null}`, ErrInvalidPlaceholder},
		// JSON.parse keeps the last member, so this is no placeholder; but the map would
		// hold "_placeholder": true, which the decoder refuses (found by FuzzAppendArgs).
		{`[{"_placeholder":true,"_placeholder":false}]`, ErrInvalidPlaceholder},
		{`{"_placeholder":true,"_placeholder":false,"num":0}`, ErrInvalidPlaceholder},
	}
	for _, tc := range tests {
		_, err := AppendArgs(nil, jsonArgs([][]byte{{1}, {2}}, tc.json))
		if !errors.Is(err, tc.want) {
			t.Errorf("%.40q: err = %v, want %v", tc.json, err, tc.want)
		}
	}
	deep := strings.Repeat("[", maxEncodeDepth) + strings.Repeat("]", maxEncodeDepth)
	if _, err := AppendArgs(nil, jsonArgs(nil, deep)); err != nil {
		t.Errorf("%d levels (encoding/json's limit): %v", maxEncodeDepth, err)
	}
}

// TestDecodeArgs converts msgpack values to JSON as JSON.stringify writes what
// notepack.io decodes.
func TestDecodeArgs(t *testing.T) {
	tests := []struct {
		hex  string
		json []string
		atts [][]byte
	}{
		{"90", nil, nil},
		{"93 c0 c2 c3", []string{`null`, `false`, `true`}, nil},
		{"94 7f e0 d0df cfffffffffffffffff", []string{`127`, `-32`, `-33`, `18446744073709551615`}, nil},
		{"92 d3 8000000000000000 cb0000000000000001", []string{`-9223372036854775808`, `5e-324`}, nil},
		{"93 cb7ff8000000000000 cb7ff0000000000000 cbfff0000000000000", []string{`null`, `null`, `null`}, nil}, // NaN, ±Infinity
		{"93 cb8000000000000000 cb444b1ae4d6e2ef50 cb3eb0c6f7a0b5ed8d", []string{`0`, `1e+21`, `0.000001`}, nil},
		{"91 ca3dcccccd", []string{`0.10000000149011612`}, nil}, // float 32, widened as readFloatBE does
		// Invalid UTF-8: one U+FFFD per maximal subpart, as Buffer.toString gives.
		{"92 a3e282ac a4ff61e282", []string{`"€"`, "\"\ufffda\ufffd\""}, nil},
		{"93 a3eda080 a2f080 a4f4908080", []string{"\"\ufffd\ufffd\ufffd\"", "\"\ufffd\ufffd\"", "\"\ufffd\ufffd\ufffd\ufffd\""}, nil},
		{"93 a3e08061 a3e28241 a4f09f9841", []string{"\"\ufffd\ufffda\"", "\"\ufffdA\"", "\"\ufffdA\""}, nil},
		{"91 a6 22 5c 0a 08 1f 7f", []string{`"\"\\\n\b\u001f` + "\x7f" + `"`}, nil},
		{"92 c4 00 82 a161 c4 01 09 a162 92 c5 0001 0a 90", []string{`{"_placeholder":true,"num":0}`,
			`{"a":{"_placeholder":true,"num":1},"b":[{"_placeholder":true,"num":2},[]]}`}, [][]byte{{}, {9}, {10}}},
		// Timestamps: 32, 64 and 96 bits; a negative time with nanoseconds truncates
		// toward zero as the Date constructor does (-999.999 ms is -999 ms); dates
		// beyond ±8.64e15 ms are invalid and JSON.stringify writes null.
		{"91 d6ff 00000000", []string{`"1970-01-01T00:00:00.000Z"`}, nil},
		{"91 d7ff a1a5d600 65937d25", []string{`"2024-01-02T03:04:05.678Z"`}, nil},
		{"91 c70cff 000003e8 ffffffffffffffff", []string{`"1969-12-31T23:59:59.001Z"`}, nil},
		{"91 c70cff 00000000 fffffff184aa5080", []string{`"-000001-01-01T00:00:00.000Z"`}, nil},
		{"91 c70cff 00000000 0000000000000001 ", []string{`"1970-01-01T00:00:01.000Z"`}, nil},
		{"91 c70cff 00000000 000007dba8218001", []string{`null`}, nil},
		{"91 c70cff 00000000 8000000000000000", []string{`null`}, nil},
	}
	for _, tc := range tests {
		got, err := DecodeArgs(unhex(t, tc.hex), Limits{})
		if err != nil {
			t.Errorf("%s: %v", tc.hex, err)
			continue
		}
		want := jsonArgs(tc.atts, tc.json...)
		if want.Raw == nil {
			want.Raw = []json.RawMessage{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %q %v, want %q %v", tc.hex, got.Raw, got.Attachments, want.Raw, want.Attachments)
		}
		for _, r := range got.Raw {
			if !json.Valid(r) {
				t.Errorf("%s: invalid JSON %s", tc.hex, r)
			}
		}
	}
}

func TestDecodeArgsErrors(t *testing.T) {
	tests := []struct {
		hex  string
		want error
	}{
		{"", ErrMalformed},
		{"80", ErrMalformed},
		{"91", ErrMalformed},
		{"90 00", ErrMalformed},
		{"91 d6ff 0000", ErrMalformed},
		{"91 d7ff ffffffff ffffffff", ErrMalformed}, // 1073741823 ns
		{"91 c70aff 00000000 0000000000", ErrMalformed},
		{"91 d4ff 00", ErrMalformed}, // timestamp of 1 byte
		{"91 c9 00000001 05 00", ErrUnsupportedExt},
		{"91 81 c0 c0", ErrMalformed},
	}
	for _, tc := range tests {
		if _, err := DecodeArgs(unhex(t, tc.hex), Limits{}); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.hex, err, tc.want)
		}
	}
}

func TestArgsRoundTrip(t *testing.T) {
	a := jsonArgs([][]byte{{0}, bytes.Repeat([]byte{1}, 70000)},
		`"ev"`, `{"a":[1,-2,3.25,"x",null,true,{"_placeholder":true,"num":1}],"b":{}}`,
		`{"_placeholder":true,"num":0}`, `1.7976931348623157e+308`, `"</script>\u2028"`)
	b, err := AppendArgs(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeArgs(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// Placeholders are renumbered in document order.
	want := jsonArgs([][]byte{a.Attachments[1], a.Attachments[0]},
		`"ev"`, `{"a":[1,-2,3.25,"x",null,true,{"_placeholder":true,"num":0}],"b":{}}`,
		`{"_placeholder":true,"num":1}`, `1.7976931348623157e+308`, "\"</script>\u2028\"")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip: got %q, want %q", got.Raw, want.Raw)
	}
}

func TestAppendJSNumber(t *testing.T) {
	// Expected: JSON.stringify in Node 20.
	tests := []struct {
		f    float64
		want string
	}{
		{1e21, "1e+21"}, {1e-7, "1e-7"}, {123e-20, "1.23e-18"}, {0.000001, "0.000001"},
		{math.MaxFloat64, "1.7976931348623157e+308"}, {5e-324, "5e-324"}, {3 * 5e-324, "1.5e-323"},
		{math.Copysign(0, -1), "0"}, {100, "100"}, {1e20, "100000000000000000000"}, {0.1, "0.1"},
		{-1.5e-10, "-1.5e-10"}, {123456789.125, "123456789.125"}, {1.0 / 3, "0.3333333333333333"},
		{math.NaN(), "null"}, {math.Inf(-1), "null"},
	}
	for _, tc := range tests {
		if got := string(appendJSNumber(nil, tc.f)); got != tc.want {
			t.Errorf("appendJSNumber(%v) = %s, want %s", tc.f, got, tc.want)
		}
	}
}
