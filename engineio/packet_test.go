package engineio

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodePacket(t *testing.T) {
	tests := []struct {
		in      string
		want    Packet
		wantErr error
	}{
		{in: "0", want: Packet{Type: PacketOpen, Data: []byte{}}},
		{in: "2", want: Packet{Type: PacketPing, Data: []byte{}}},
		{in: "2probe", want: Packet{Type: PacketPing, Data: []byte("probe")}},
		{in: "3probe", want: Packet{Type: PacketPong, Data: []byte("probe")}},
		{in: "4hello", want: Packet{Type: PacketMessage, Data: []byte("hello")}},
		{in: "42[\"ev\"]", want: Packet{Type: PacketMessage, Data: []byte(`2["ev"]`)}},
		{in: "5", want: Packet{Type: PacketUpgrade, Data: []byte{}}},
		{in: "6", want: Packet{Type: PacketNoop, Data: []byte{}}},
		{in: "bAQID", want: Packet{Type: PacketMessage, Binary: true, Data: []byte{1, 2, 3}}},
		{in: "b", want: Packet{Type: PacketMessage, Binary: true, Data: []byte{}}},
		{in: "", wantErr: ErrEmptyPacket},
		{in: "7", wantErr: ErrUnknownType},
		{in: "abc", wantErr: ErrUnknownType},
		{in: "b!!!", wantErr: ErrBadBase64},
	}
	for _, tt := range tests {
		got, err := DecodePacket([]byte(tt.in))
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("DecodePacket(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got.Type != tt.want.Type || got.Binary != tt.want.Binary || !bytes.Equal(got.Data, tt.want.Data) {
			t.Errorf("DecodePacket(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestDecodePayload(t *testing.T) {
	// The polling example of the Engine.IO v4 spec: "4hello\x1e4€\x1ebAQIDBA==".
	body := "4hello\x1e4€\x1ebAQIDBA=="
	var got []Packet
	if err := DecodePayload([]byte(body), func(p Packet) error {
		got = append(got, p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d packets, want 3", len(got))
	}
	if string(got[0].Data) != "hello" || string(got[1].Data) != "€" || !got[2].Binary || !bytes.Equal(got[2].Data, []byte{1, 2, 3, 4}) {
		t.Fatalf("got %+v", got)
	}
	// Decoding stops at the first bad packet.
	n := 0
	err := DecodePayload([]byte("4a\x1e9\x1e4b"), func(Packet) error { n++; return nil })
	if !errors.Is(err, ErrUnknownType) || n != 1 {
		t.Fatalf("err = %v after %d packets, want ErrUnknownType after 1", err, n)
	}
	// An empty record is an error, not a silent skip.
	if err := DecodePayload([]byte("4a\x1e"), func(Packet) error { return nil }); !errors.Is(err, ErrEmptyPacket) {
		t.Fatalf("trailing separator: err = %v, want ErrEmptyPacket", err)
	}
}

func TestAppendPollingPacket(t *testing.T) {
	b := AppendPollingPacket(nil, true, []byte("4hi"))
	b = append(b, recordSeparator)
	b = AppendPollingPacket(b, false, []byte{1, 2, 3, 4})
	if string(b) != "4hi\x1ebAQIDBA==" {
		t.Fatalf("got %q", b)
	}
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"4hello\x1e4€\x1ebAQIDBA==", "0", "2probe", "b", "", "\x1e", "42[\"a\",1]", "6\x1e6"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var packets []Packet
		err := DecodePayload(body, func(p Packet) error {
			packets = append(packets, Packet{Type: p.Type, Binary: p.Binary, Data: bytes.Clone(p.Data)})
			return nil
		})
		if err != nil {
			return
		}
		// Round trip: encode what was decoded and decode it again.
		var enc []byte
		for i, p := range packets {
			if i > 0 {
				enc = append(enc, recordSeparator)
			}
			if p.Binary {
				enc = AppendPollingPacket(enc, false, p.Data)
			} else {
				enc = append(append(enc, byte(p.Type)), p.Data...)
			}
		}
		var again []Packet
		if err := DecodePayload(enc, func(p Packet) error {
			again = append(again, p)
			return nil
		}); err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		if len(again) != len(packets) {
			t.Fatalf("round trip: %d packets, then %d", len(packets), len(again))
		}
		for i := range again {
			if again[i].Type != packets[i].Type || again[i].Binary != packets[i].Binary || !bytes.Equal(again[i].Data, packets[i].Data) {
				t.Fatalf("round trip packet %d: %+v then %+v", i, packets[i], again[i])
			}
		}
	})
}
