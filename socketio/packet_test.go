package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// Examples from the Socket.IO v5 protocol text (socket.io-protocol Readme, "Packet
// encoding" and "Sample session") and socket.io-parser's test suite.
func TestDecode(t *testing.T) {
	tests := []struct {
		in      string
		want    Packet
		wantErr error
	}{
		{in: "0", want: Packet{Type: PacketConnect, Namespace: "/"}},
		{in: `0{"token":"123"}`, want: Packet{Type: PacketConnect, Namespace: "/", Data: json.RawMessage(`{"token":"123"}`)}},
		{in: `0/admin,{"token":"abc"}`, want: Packet{Type: PacketConnect, Namespace: "/admin", Data: json.RawMessage(`{"token":"abc"}`)}},
		{in: "0/admin,", want: Packet{Type: PacketConnect, Namespace: "/admin"}},
		{in: "0/admin", want: Packet{Type: PacketConnect, Namespace: "/admin"}}, // no trailing comma
		{in: "1", want: Packet{Type: PacketDisconnect, Namespace: "/"}},
		{in: "1/admin,", want: Packet{Type: PacketDisconnect, Namespace: "/admin"}},
		{in: "1/admin", want: Packet{Type: PacketDisconnect, Namespace: "/admin"}},
		{in: `2["foo"]`, want: Packet{Type: PacketEvent, Namespace: "/", Data: json.RawMessage(`["foo"]`)}},
		{in: `2/admin,["bar"]`, want: Packet{Type: PacketEvent, Namespace: "/admin", Data: json.RawMessage(`["bar"]`)}},
		{in: `212["foo"]`, want: Packet{Type: PacketEvent, Namespace: "/", HasID: true, ID: 12, Data: json.RawMessage(`["foo"]`)}},
		{in: `2/admin,13["foo"]`, want: Packet{Type: PacketEvent, Namespace: "/admin", HasID: true, ID: 13, Data: json.RawMessage(`["foo"]`)}},
		{in: `2[42,"x"]`, want: Packet{Type: PacketEvent, Namespace: "/", Data: json.RawMessage(`[42,"x"]`)}},
		{in: `3/admin,13["bar"]`, want: Packet{Type: PacketAck, Namespace: "/admin", HasID: true, ID: 13, Data: json.RawMessage(`["bar"]`)}},
		{in: `315[]`, want: Packet{Type: PacketAck, Namespace: "/", HasID: true, ID: 15, Data: json.RawMessage(`[]`)}},
		{in: `4{"message":"Not authorized"}`, want: Packet{Type: PacketConnectError, Namespace: "/", Data: json.RawMessage(`{"message":"Not authorized"}`)}},
		{in: `51-["baz",{"_placeholder":true,"num":0}]`, want: Packet{Type: PacketBinaryEvent, Namespace: "/", Attachments: 1, Data: json.RawMessage(`["baz",{"_placeholder":true,"num":0}]`)}},
		{in: `51-/admin,["baz",{"_placeholder":true,"num":0}]`, want: Packet{Type: PacketBinaryEvent, Namespace: "/admin", Attachments: 1, Data: json.RawMessage(`["baz",{"_placeholder":true,"num":0}]`)}},
		{in: `61-/admin,13[{"_placeholder":true,"num":0}]`, want: Packet{Type: PacketBinaryAck, Namespace: "/admin", HasID: true, ID: 13, Attachments: 1, Data: json.RawMessage(`[{"_placeholder":true,"num":0}]`)}},
		// Errors, as socket.io-parser rejects them.
		{in: "", wantErr: ErrEmptyPacket},
		{in: "7", wantErr: ErrUnknownPacketType},
		{in: "abc", wantErr: ErrUnknownPacketType},
		{in: `2{}`, wantErr: ErrInvalidPayload},
		{in: `2abc[]`, wantErr: ErrInvalidPayload},
		{in: `2[]`, wantErr: ErrInvalidPayload},
		{in: `2[{}]`, wantErr: ErrInvalidPayload},
		{in: `2["connect"]`, wantErr: ErrInvalidPayload},
		{in: `2["disconnect",1]`, wantErr: ErrInvalidPayload},
		{in: `2["a"`, wantErr: ErrInvalidPayload},
		{in: `0[]`, wantErr: ErrInvalidPayload},
		{in: `0"x"`, wantErr: ErrInvalidPayload},
		{in: `1{}`, wantErr: ErrInvalidPayload},
		{in: `3{}`, wantErr: ErrInvalidPayload},
		{in: `4[]`, wantErr: ErrInvalidPayload},
		{in: `5["a"]`, wantErr: ErrIllegalAttachments},
		{in: `5a-["a"]`, wantErr: ErrIllegalAttachments},
		{in: `511-["a"]`, wantErr: ErrTooManyAttachments},
		{in: `2999999999999999999["a"]`, wantErr: ErrInvalidPayload},
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in), 0)
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("Decode(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got.Type != tt.want.Type || got.Namespace != tt.want.Namespace || got.HasID != tt.want.HasID ||
			got.ID != tt.want.ID || got.Attachments != tt.want.Attachments || !bytes.Equal(got.Data, tt.want.Data) {
			t.Errorf("Decode(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		// Encoding gives back the canonical form: the input, with the namespace comma.
		enc := string(got.Append(nil))
		canonical := tt.in
		if got.Namespace != "/" && !bytes.Contains([]byte(tt.in), []byte(got.Namespace+",")) {
			canonical = tt.in + ","
		}
		if enc != canonical {
			t.Errorf("Append(Decode(%q)) = %q, want %q", tt.in, enc, canonical)
		}
	}
}

func TestMaxAttachments(t *testing.T) {
	if _, err := Decode([]byte(`53-["a"]`), 2); !errors.Is(err, ErrTooManyAttachments) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Decode([]byte(`52-["a"]`), 2); err != nil {
		t.Fatalf("err = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"0", `0/admin,{"token":"abc"}`, "1/admin", `2["foo",1,{"a":[true]}]`, `2/admin,13["foo"]`,
		`315[]`, `4{"message":"x"}`, `51-["baz",{"_placeholder":true,"num":0}]`, `61-/admin,13[{"x":1}]`, `2[42]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b, 0)
		if err != nil {
			return
		}
		enc := p.Append(nil)
		q, err := Decode(enc, 0)
		if err != nil {
			t.Fatalf("re-decoding %q (from %q): %v", enc, b, err)
		}
		if p.Type != q.Type || p.Namespace != q.Namespace || p.HasID != q.HasID || p.ID != q.ID ||
			p.Attachments != q.Attachments || !bytes.Equal(p.Data, q.Data) {
			t.Fatalf("round trip %q: %+v then %+v", b, p, q)
		}
	})
}
