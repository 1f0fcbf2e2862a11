package socketio

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestEncodeArgs(t *testing.T) {
	type point struct {
		X int    `json:"x"`
		S string `json:"s"`
	}
	tests := []struct {
		args []any
		json string
		atts int
	}{
		{nil, ``, 0},
		{[]any{"a<b>&c", 1, true, nil, 1.5}, `"a<b>&c",1,true,null,1.5`, 0},
		{[]any{point{1, "<&>"}}, `{"x":1,"s":"<&>"}`, 0},
		{[]any{json.RawMessage(`{"k":[1,2]}`)}, `{"k":[1,2]}`, 0},
		{[]any{[]byte{1}, "x", []byte{2}}, `{"_placeholder":true,"num":0},"x",{"_placeholder":true,"num":1}`, 2},
		{[]any{Args{Raw: []json.RawMessage{json.RawMessage(`{"_placeholder":true,"num":0}`), json.RawMessage(`7`)}, Attachments: [][]byte{{9}}}, "tail"},
			`{"_placeholder":true,"num":0},7,"tail"`, 1},
		{[]any{math.Inf(1)}, ``, -1}, // encoding/json refuses it
	}
	for _, tt := range tests {
		e, err := encodeArgs(tt.args)
		if tt.atts < 0 {
			if err == nil {
				t.Errorf("%v: want an error", tt.args)
			}
			continue
		}
		if err != nil || string(e.json) != tt.json || len(e.atts) != tt.atts || e.count != len(tt.args)+extra(tt.args) {
			t.Errorf("encodeArgs(%v) = %q, %d atts, count %d, %v; want %q, %d", tt.args, e.json, len(e.atts), e.count, err, tt.json, tt.atts)
		}
		// raws gives each argument's JSON, as the list would split.
		var want []json.RawMessage
		if tt.json != "" {
			if err := json.Unmarshal([]byte("["+tt.json+"]"), &want); err != nil {
				t.Fatal(err)
			}
		}
		got := e.raws()
		if len(got) != len(want) {
			t.Errorf("raws(%v) = %q, want %q", tt.args, got, want)
			continue
		}
		for i := range got {
			if string(got[i]) != string(want[i]) {
				t.Errorf("raws(%v)[%d] = %q, want %q", tt.args, i, got[i], want[i])
			}
		}
	}
	_, err := encodeArgs([]any{[]byte{1}, Args{Raw: []json.RawMessage{json.RawMessage(`{"_placeholder":true,"num":0}`)}, Attachments: [][]byte{{2}}}})
	if !errors.Is(err, ErrArgsAfterBinary) {
		t.Fatalf("Args after binary: %v", err)
	}
}

// extra counts the arguments an Args value adds beyond itself.
func extra(args []any) int {
	n := 0
	for _, a := range args {
		if ra, ok := a.(Args); ok {
			n += len(ra.Raw) - 1
		}
	}
	return n
}

func TestArgsAccessors(t *testing.T) {
	a := Args{Raw: []json.RawMessage{json.RawMessage(`"s"`), json.RawMessage(`{"_placeholder":true,"num":0}`), json.RawMessage(`{"n":2}`)}, Attachments: [][]byte{{7, 8}}}
	if s, ok := a.String(0); !ok || s != "s" {
		t.Fatal("String(0)")
	}
	if _, ok := a.String(2); ok {
		t.Fatal("String of an object")
	}
	if b, ok := a.Bytes(1); !ok || string(b) != "\x07\x08" {
		t.Fatal("Bytes(1)")
	}
	if _, ok := a.Bytes(2); ok {
		t.Fatal("Bytes of a non-placeholder")
	}
	var v struct{ N int }
	if err := a.Decode(2, &v); err != nil || v.N != 2 {
		t.Fatal("Decode(2)")
	}
	if err := a.Decode(9, &v); err == nil {
		t.Fatal("Decode out of range")
	}
}
