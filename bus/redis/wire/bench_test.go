package wire

import (
	"bytes"
	"testing"
)

// benchBroadcast is a typical chat broadcast to one room with a small binary argument.
func benchBroadcast() Broadcast {
	return Broadcast{UID: "WZ3S_l",
		Packet: Packet{Nsp: "/", Data: jsonArgs([][]byte{bytes.Repeat([]byte{1}, 64)}, `"message"`,
			`{"from":"user:42","text":"hello, how are you today?","ts":1796032800000,"tags":["a","b"],"score":0.5}`,
			`{"_placeholder":true,"num":0}`)},
		Opts: Options{Rooms: []string{"room:lobby"}, Except: []string{"N_0mBjMZXaKKceOJAAAA"}}}
}

func BenchmarkEncodeBroadcast(b *testing.B) {
	m := benchBroadcast()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeBroadcast(&m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBroadcast(b *testing.B) {
	m := benchBroadcast()
	enc, err := EncodeBroadcast(&m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeBroadcast(enc, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
