package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// broadcastCaptures are broadcast messages as the Node packages publish them. "hello"
// is the 62-byte io.emit("hello","world") capture of protocol.md §5.2, byte for byte;
// "room", "multi" and "emitter" are the other §5.2 and §6 captures, and the rest are
// notepack.io 3.0.1's encoding of the values in the comments (TestNodeCompat checks
// the same against the live packages).
var broadcastCaptures = []struct {
	name string
	hex  string
	want Broadcast
	// exact: EncodeBroadcast(want) gives the same bytes. Not so for the emitter's key
	// order (rooms, flags, except) and for dates, which decode to strings.
	exact bool
}{{
	name: "hello", // io.emit("hello", "world")
	hex: `93 a6575a33535f6c 83 a474797065 02 a464617461 92 a568656c6c6f a5776f726c64 a36e7370 a12f
	      83 a5726f6f6d73 90 a6657863657074 90 a5666c616773 80`,
	want:  Broadcast{UID: "WZ3S_l", Packet: Packet{Nsp: "/", Data: jsonArgs(nil, `"hello"`, `"world"`)}},
	exact: true,
}, {
	name: "room", // io.to("room1").emit("to-room", 1, {a: true})
	hex: `93a6575a33535f6c83a47479706502a46461746193a7746f2d726f6f6d0181a161c3a36e7370a12f83a5726f6f6d73
	      91a5726f6f6d31a665786365707490a5666c61677380`,
	want: Broadcast{UID: "WZ3S_l",
		Packet: Packet{Nsp: "/", Data: jsonArgs(nil, `"to-room"`, `1`, `{"a":true}`)},
		Opts:   Options{Rooms: []string{"room1"}}},
	exact: true,
}, {
	name: "multi", // io.to(["room1","room2"]).except("room3").volatile.emit("multi", Buffer.from([1,2,3]))
	hex: `93a6575a33535f6c83a47479706502a46461746192a56d756c7469c403010203a36e7370a12f83a5726f6f6d7392
	      a5726f6f6d31a5726f6f6d32a665786365707491a5726f6f6d33a5666c61677381a8766f6c6174696c65c3`,
	want: Broadcast{UID: "WZ3S_l",
		Packet: Packet{Nsp: "/", Data: jsonArgs([][]byte{{1, 2, 3}}, `"multi"`, `{"_placeholder":true,"num":0}`)},
		Opts:   Options{Rooms: []string{"room1", "room2"}, Except: []string{"room3"}, Flags: Flags{Volatile: true}}},
	exact: true,
}, {
	name: "emitter", // emitter.emit("from-emitter", 42)
	hex: `93a7656d697474657283a47479706502a46461746192ac66726f6d2d656d69747465722aa36e7370a12f83a5726f6f6d73
	      90a5666c61677380a665786365707490`,
	want: Broadcast{UID: "emitter", Packet: Packet{Nsp: "/", Data: jsonArgs(nil, `"from-emitter"`, `42`)}},
}, {
	name: "emitter-admin", // emitter.of("/admin").compress(false).emit("from-emitter-admin")
	hex: `93a7656d697474657283a47479706502a46461746191b266726f6d2d656d69747465722d61646d696ea36e7370a6
	      2f61646d696e83a5726f6f6d7390a5666c61677381a8636f6d7072657373c2a665786365707490`,
	want: Broadcast{UID: "emitter",
		Packet: Packet{Nsp: "/admin", Data: jsonArgs(nil, `"from-emitter-admin"`)},
		Opts:   Options{Flags: Flags{Compress: ptr(false)}}},
}, {
	// io.emit("n", 0, -1, -32, -33, 127, 128, 255, 256, 65535, 65536, 2**32-1, 2**32, -128,
	// -129, -32768, -32769, -(2**31), -(2**31)-1, 2**53, 1.5, -0.25, 1e21, 1e-7, -0):
	// every integer width. notepack.io writes the integer 1e21, which is beyond 2^64,
	// as a wrapped uint64; Node decodes the same wrong number.
	name: "numbers",
	hex: `93a17583a47479706502a464617461dc0019a16e00ffe0d0df7fcc80ccffcd0100cdffffce00010000ceffffffff
	      cf0000000100000000d080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7fffffffcf0020000000000000
	      cb3ff8000000000000cbbfd0000000000000cf35c9adc5dea00000cb3e7ad7f29abcaf4800a36e7370a12f83
	      a5726f6f6d7390a665786365707490a5666c61677380`,
	want: Broadcast{UID: "u", Packet: Packet{Nsp: "/", Data: jsonArgs(nil, `"n"`, `0`, `-1`, `-32`, `-33`,
		`127`, `128`, `255`, `256`, `65535`, `65536`, `4294967295`, `4294967296`, `-128`, `-129`,
		`-32768`, `-32769`, `-2147483648`, `-2147483649`, `9007199254740992`, `1.5`, `-0.25`,
		`3875820019684212736`, `1e-7`, `0`)}},
	exact: true,
}, {
	// io.emit("d", new Date(Date.UTC(2024,0,2,3,4,5,678)), new Date(0), new Date(-1),
	// new Date(Date.UTC(2024,0,1)), new Date(Date.UTC(2500,0,1)), new Date(8.64e15)):
	// timestamp 64, 32, 96, 32, 64 and 96 bits, as JSON.stringify writes the dates.
	name: "dates",
	hex: `93a17583a47479706502a46461746197a164d7ffa1a5d60065937d25d6ff00000000c70cff3b8b87c0ffffffffffff
	      ffffd6ff65920080d7ff00000003e4e6b080c70cff00000000000007dba8218000a36e7370a12f83a5726f6f6d73
	      90a665786365707490a5666c61677380`,
	want: Broadcast{UID: "u", Packet: Packet{Nsp: "/", Data: jsonArgs(nil, `"d"`,
		`"2024-01-02T03:04:05.678Z"`, `"1970-01-01T00:00:00.000Z"`, `"1969-12-31T23:59:59.999Z"`,
		`"2024-01-01T00:00:00.000Z"`, `"2500-01-01T00:00:00.000Z"`, `"+275760-09-13T00:00:00.000Z"`)}},
}, {
	// io.emit("b", {file: Buffer.from("hi"), list: [Buffer.alloc(0), Buffer.alloc(300, 7)]}):
	// bin 8 and bin 16, placeholders numbered in document order.
	name: "binary",
	hex: `93a17583a47479706502a46461746192a16282a466696c65c4026869a46c69737492c400c5012c` +
		strings.Repeat("07", 300) + `a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380`,
	want: Broadcast{UID: "u", Packet: Packet{Nsp: "/", Data: jsonArgs(
		[][]byte{[]byte("hi"), {}, bytes.Repeat([]byte{7}, 300)},
		`"b"`, `{"file":{"_placeholder":true,"num":0},"list":[{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]}`)}},
	exact: true,
}, {
	// io.except("sid1").emit("s", "x"*31, "y"*32, "z"*256, "é€😀", "a\"\\\n\t\u0001</script>&\u2028"):
	// fixstr, str 8, str 16, multi-byte UTF-8, JSON.stringify's escapes.
	name: "strings",
	hex: `93a17583a47479706502a46461746196a173bf` + strings.Repeat("78", 31) + `d920` + strings.Repeat("79", 32) +
		`da0100` + strings.Repeat("7a", 256) + `a9c3a9e282acf09f9880b361225c0a09013c2f7363726970743e26e280a8
	      a36e7370a12f83a5726f6f6d7390a665786365707491a473696431a5666c61677380`,
	want: Broadcast{UID: "u",
		Packet: Packet{Nsp: "/", Data: jsonArgs(nil, `"s"`, `"`+strings.Repeat("x", 31)+`"`,
			`"`+strings.Repeat("y", 32)+`"`, `"`+strings.Repeat("z", 256)+`"`, `"é€😀"`,
			"\"a\\\"\\\\\\n\\t\\u0001</script>&\u2028\"")},
		Opts: Options{Except: []string{"sid1"}}},
	exact: true,
}}

func TestDecodeBroadcast(t *testing.T) {
	for _, tc := range broadcastCaptures {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(t, tc.hex)
			got, err := DecodeBroadcast(b, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decoded\n%+v\nwant\n%+v", got, tc.want)
			}
			uid, err := BroadcastUID(b)
			if err != nil || uid != tc.want.UID {
				t.Errorf("BroadcastUID = %q, %v; want %q", uid, err, tc.want.UID)
			}
			enc, err := EncodeBroadcast(&tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if tc.exact && !bytes.Equal(enc, b) {
				t.Fatalf("encoded\n%x\nwant\n%x", enc, b)
			}
			again, err := DecodeBroadcast(enc, Limits{})
			if err != nil || !reflect.DeepEqual(again, tc.want) {
				t.Fatalf("re-decoded %+v, %v", again, err)
			}
		})
	}
}

// TestDecodeBroadcastTruncated feeds every proper prefix of each capture: each must
// fail cleanly.
func TestDecodeBroadcastTruncated(t *testing.T) {
	for _, tc := range broadcastCaptures {
		b := unhex(t, tc.hex)
		for i := range len(b) {
			if _, err := DecodeBroadcast(b[:i], Limits{}); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: prefix of %d bytes: err = %v, want ErrMalformed", tc.name, i, err)
			}
		}
	}
}

func TestEncodeBroadcastFlags(t *testing.T) {
	tests := []struct {
		flags Flags
		hex   string // the flags map
	}{
		{Flags{}, "80"},
		{Flags{Volatile: true}, "81 a8766f6c6174696c65 c3"},
		{Flags{Compress: ptr(false)}, "81 a8636f6d7072657373 c2"},
		{Flags{Compress: ptr(true), Local: true}, "82 a8636f6d7072657373 c3 a56c6f63616c c3"},
		{Flags{Broadcast: true, Binary: true}, "82 a962726f616463617374 c3 a662696e617279 c3"},
		{Flags{Timeout: ms(1000)}, "81 a774696d656f7574 cd03e8"},
		{Flags{Timeout: ms(0)}, "81 a774696d656f7574 00"},
	}
	for _, tc := range tests {
		m := Broadcast{UID: "u", Packet: Packet{Data: jsonArgs(nil, `"e"`)}, Opts: Options{Flags: tc.flags}}
		b, err := EncodeBroadcast(&m)
		if err != nil {
			t.Fatal(err)
		}
		want := unhex(t, "93 a175 83 a474797065 02 a464617461 91 a165 a36e7370 a12f 83 a5726f6f6d73 90 a6657863657074 90 a5666c616773"+tc.hex)
		if !bytes.Equal(b, want) {
			t.Errorf("%+v: encoded\n%x\nwant\n%x", tc.flags, b, want)
		}
		m.Packet.Nsp = "/" // an empty Nsp is written as "/"
		if got, err := DecodeBroadcast(b, Limits{}); err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("%+v: decoded %+v, %v", tc.flags, got, err)
		}
	}
}

func TestDecodeBroadcastLenient(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want Broadcast
	}{{
		name: "no nsp means /, nil rooms and flags, numeric rooms, unknown keys, a fourth element",
		hex: `94 a175 83 a474797065 02 a464617461 91 a165 a269640 7
		      84 a5726f6f6d73 92 7b cb3ff8000000000000 a6657863657074 c0 a5666c616773 82 a178 90 a774696d656f7574 cb408f440000000000 a178 c0
		      c0`,
		want: Broadcast{UID: "u", Packet: Packet{Nsp: "/", Data: jsonArgs(nil, `"e"`)},
			Opts: Options{Rooms: []string{"123", "1.5"}, Flags: Flags{Timeout: ms(1000)}}},
	}, {
		name: "numeric event name, float32, non-minimal lengths",
		hex:  `93 d90175 82 a474797065 d00 2 a464617461 dc0002 07 ca3dcccccd 81 a5726f6f6d73 dd00000000`,
		want: Broadcast{UID: "u", Packet: Packet{Nsp: "/", Data: jsonArgs(nil, `7`, `0.10000000149011612`)}},
	}}
	for _, tc := range tests {
		got, err := DecodeBroadcast(unhex(t, tc.hex), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: decoded\n%+v\nwant\n%+v", tc.name, got, tc.want)
		}
	}
}

func TestDecodeBroadcastErrors(t *testing.T) {
	const opts = "80"
	env := func(packet string) string { return "93 a175" + packet + opts }
	data := func(values string) string { return env("82 a474797065 02 a464617461" + values) }
	tests := []struct {
		name string
		hex  string
		lim  Limits
		want error
	}{
		{"empty", "", Limits{}, ErrMalformed},
		{"not an array", "80", Limits{}, ErrMalformed},
		{"two elements", "92 a175 80", Limits{}, ErrMalformed},
		{"uid is a number", "93 01 80 80", Limits{}, ErrMalformed},
		{"uid is bin", "93 c40175 80 80", Limits{}, ErrMalformed},
		{"packet is nil", env("c0"), Limits{}, ErrMalformed},
		{"options is nil", "93 a175 82 a474797065 02 a464617461 91 a165 c0", Limits{}, ErrMalformed},
		{"binary event type", env("82 a474797065 05 a464617461 91 a165"), Limits{}, ErrUnsupportedPacket},
		{"no type", env("81 a464617461 91 a165"), Limits{}, ErrUnsupportedPacket},
		{"no data", env("81 a474797065 02"), Limits{}, ErrUnsupportedPacket},
		{"empty data", data("90"), Limits{}, ErrUnsupportedPacket},
		{"event is bool", data("91 c3"), Limits{}, ErrUnsupportedPacket},
		{"event is NaN", data("91 cb7ff8000000000000"), Limits{}, ErrUnsupportedPacket},
		{"data is a map", data("80"), Limits{}, ErrMalformed},
		{"ext 0 (notepack's legacy ArrayBuffer)", data("92 a165 c70100ff"), Limits{}, ErrUnsupportedExt},
		{"fixext 1 type 0 (notepack's legacy undefined)", data("92 a165 d40000"), Limits{}, ErrUnsupportedExt},
		{"ext 5", data("92 a165 d50501 02"), Limits{}, ErrUnsupportedExt},
		{"timestamp of 2 bytes", data("92 a165 c702ff0000"), Limits{}, ErrMalformed},
		{"timestamp with 1e9 ns", data("92 a165 c70cff 3b9aca00 0000000000000000"), Limits{}, ErrMalformed},
		{"placeholder object", data("92 a165 82 ac5f706c616365686f6c646572 c3 a36e756d 00"), Limits{}, ErrPlaceholderInData},
		{"integer map key", data("92 a165 81 01 02"), Limits{}, ErrMalformed},
		{"never-used code c1", data("92 a165 c1"), Limits{}, ErrMalformed},
		{"array longer than the input", data("92 a165 ddffffffff"), Limits{}, ErrMalformed},
		{"map longer than the input", data("92 a165 df0000ffff 00"), Limits{}, ErrMalformed},
		{"str longer than the input", data("92 a165 dbffffffff 00"), Limits{}, ErrMalformed},
		{"trailing byte", "93 a175 82 a474797065 02 a464617461 91 a165 80 00", Limits{}, ErrMalformed},
		{"rooms not an array", "93 a175 82 a474797065 02 a464617461 91 a165 81 a5726f6f6d73 a161", Limits{}, ErrMalformed},
		{"room number cut short", "93 a175 82 a474797065 02 a464617461 91 a165 81 a5726f6f6d73 91 cd01", Limits{}, ErrMalformed},
		{"room is a bool", "93 a175 82 a474797065 02 a464617461 91 a165 81 a5726f6f6d73 91 c3", Limits{}, ErrMalformed},
		{"volatile is 1", "93 a175 82 a474797065 02 a464617461 91 a165 81 a5666c616773 81 a8766f6c6174696c65 01", Limits{}, ErrMalformed},
		{"negative timeout", "93 a175 82 a474797065 02 a464617461 91 a165 81 a5666c616773 81 a774696d656f7574 ff", Limits{}, ErrMalformed},
		{"too large", data("91 a165"), Limits{MaxSize: 10}, ErrTooLarge},
		{"too deep", data("92 a165 91 91 91 01"), Limits{MaxDepth: 2}, ErrTooDeep},
		{"too deep to skip", "93 a175 83 a474797065 02 a464617461 91 a165 a178 91 91 91 01" + opts, Limits{MaxDepth: 2}, ErrTooDeep},
		{"too many attachments", data("93 a165 c400 c400"), Limits{MaxAttachments: 1}, ErrTooManyAttachments},
		{"JSON larger than MaxSize", data("9f a165" + strings.Repeat("c400", 14)), Limits{MaxSize: 100}, ErrTooLarge},
	}
	for _, tc := range tests {
		b := unhex(t, tc.hex)
		_, err := DecodeBroadcast(b, tc.lim)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			continue
		}
		if len(b) > 0 && tc.want != ErrTooLarge && !strings.Contains(err.Error(), "(message ") {
			t.Errorf("%s: error %q does not quote the message", tc.name, err)
		}
	}
}

func TestLimitsNormalized(t *testing.T) {
	got := Limits{MaxSize: -1, MaxDepth: 0, MaxAttachments: 7}.normalized()
	want := Limits{MaxSize: DefaultMaxSize, MaxDepth: DefaultMaxDepth, MaxAttachments: 7}
	if got != want {
		t.Errorf("normalized = %+v, want %+v", got, want)
	}
}

func TestPacketEvent(t *testing.T) {
	tests := []struct {
		data Args
		name string
		ok   bool
	}{
		{jsonArgs(nil, `"hello"`, `1`), "hello", true},
		{jsonArgs(nil, `"a\"b"`), `a"b`, true},
		{jsonArgs(nil, `7`), "", false},
		{jsonArgs(nil, `"`), "", false},
		{Args{}, "", false},
	}
	for _, tc := range tests {
		p := Packet{Data: tc.data}
		if name, ok := p.Event(); name != tc.name || ok != tc.ok {
			t.Errorf("Event of %q = %q, %v", tc.data.Raw, name, ok)
		}
	}
}

func TestEncodeBroadcastErrors(t *testing.T) {
	tests := []struct {
		data Args
		want error
	}{
		{jsonArgs(nil, `"e"`, `{`), ErrInvalidJSON},
		{jsonArgs(nil, `"e"`, `{"_placeholder":true,"num":0}`), ErrInvalidPlaceholder},
	}
	for _, tc := range tests {
		m := Broadcast{UID: "u", Packet: Packet{Data: tc.data}}
		if _, err := EncodeBroadcast(&m); !errors.Is(err, tc.want) {
			t.Errorf("%q: err = %v, want %v", tc.data.Raw, err, tc.want)
		}
		req := BroadcastRequest{UID: "u", RequestID: "r", Packet: m.Packet}
		if _, err := EncodeRequest(&req); !errors.Is(err, tc.want) {
			t.Errorf("request %q: err = %v, want %v", tc.data.Raw, err, tc.want)
		}
	}
}
