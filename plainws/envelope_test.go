package plainws

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDecodeEnvelope(t *testing.T) {
	tests := []struct {
		in      string
		event   string
		data    string // "" means absent
		wantErr error
	}{
		{in: `{"event":"echo","data":{"a":[1,"<&>"]}}`, event: "echo", data: `{"a":[1,"<&>"]}`},
		{in: `{"event":"ping"}`, event: "ping"},
		{in: `{"data":null,"event":"x","extra":true}`, event: "x", data: `null`},
		{in: `{"event":""}`, event: ""},
		{in: `not json`, wantErr: ErrInvalidJSON},
		{in: ``, wantErr: ErrInvalidJSON},
		{in: `{"event":"x"`, wantErr: ErrInvalidJSON},
		{in: `{"data":1}`, wantErr: ErrNoEvent},
		{in: `{"event":7}`, wantErr: ErrNoEvent},
		{in: `{"event":null}`, wantErr: ErrNoEvent},
		{in: `["event","x"]`, wantErr: ErrNoEvent},
		{in: `"event"`, wantErr: ErrNoEvent},
	}
	for _, tt := range tests {
		ev, data, err := DecodeEnvelope([]byte(tt.in))
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("DecodeEnvelope(%q) error %v, want %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (ev != tt.event || string(data) != tt.data) {
			t.Errorf("DecodeEnvelope(%q) = %q %q, want %q %q", tt.in, ev, data, tt.event, tt.data)
		}
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{`{"event":"echo","data":1}`, `{"event":"x"}`, `{"data":1}`, `[]`, `nope`, `{"event":"\u00e9","data":[{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, data, err := DecodeEnvelope(b)
		if err != nil {
			return
		}
		// Round trip through the envelope we send.
		out, _ := json.Marshal(map[string]any{"event": ev, "data": data})
		if data == nil {
			out, _ = json.Marshal(map[string]any{"event": ev})
		}
		ev2, data2, err := DecodeEnvelope(out)
		if err != nil || ev2 != ev {
			t.Fatalf("round trip of %q: %q %v", b, ev2, err)
		}
		if data != nil && !jsonEqual(data, data2) {
			t.Fatalf("round trip of %q: data %s then %s", b, data, data2)
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}
