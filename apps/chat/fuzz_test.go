package chat

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/heraldhq/herald/socketio"
)

// FuzzDecodeMessage: msgToServer's decoder never panics, accepts only what the
// contract allows, and accepts again what it forwards (the broadcast payload).
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{`{"name":"a","text":"hi"}`, `{"name":"a","text":"hi","room":"general"}`,
		`{"name":"admin","text":"x"}`, `{"name":" ","text":"x"}`, `{"name":1}`, `[]`, `"x"`, `{"name":"a","text":"\ud83d"}`,
		`{"name":"a","text":"x","room":"user:1"}`, `{"name":"a","text":"x","room":null,"extra":[1]}`} {
		f.Add(s, 5)
	}
	f.Fuzz(func(t *testing.T, raw string, maxText int) {
		maxText = 1 + abs(maxText)%3000
		msg, err := decodeMessage(socketio.Args{Raw: []json.RawMessage{json.RawMessage(raw)}}, maxText)
		if err != nil {
			if msg != (Message{}) {
				t.Fatalf("%q: error %v with a message %+v", raw, err, msg)
			}
			return
		}
		if n := utf8.RuneCountInString(msg.Text); n < 1 || n > maxText || utf8.RuneCountInString(msg.Name) > MaxName || msg.Name == "" {
			t.Fatalf("%q: accepted %+v (max text %d)", raw, msg, maxText)
		}
		if _, err := checkName("name", msg.Name); err != nil {
			t.Fatalf("%q: accepted the name %q: %v", raw, msg.Name, err)
		}
		if msg.Room != "" {
			if _, err := idField(map[string]json.RawMessage{"room": mustJSON(t, msg.Room)}, "room"); err != nil {
				t.Fatalf("%q: accepted the room %q: %v", raw, msg.Room, err)
			}
		}
		again, err := decodeMessage(socketio.Args{Raw: []json.RawMessage{mustJSON(t, msg)}}, maxText)
		if err != nil || again != msg {
			t.Fatalf("%q: forwarded %+v, which decodes to %+v, %v", raw, msg, again, err)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n = -n; n < 0 { // math.MinInt
			return 0
		}
	}
	return n
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
