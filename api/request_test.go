package api

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestDecodeEmit(t *testing.T) {
	for _, tc := range []struct {
		body string
		want *EmitRequest
	}{
		{`{"event":"e","to":{"all":true}}`, &EmitRequest{Namespace: "/", Event: "e", To: Target{Kind: "all"}}},
		{`{"namespace":"/chat","event":"e","data":null,"to":{"authenticated":true}}`,
			&EmitRequest{Namespace: "/chat", Event: "e", Data: json.RawMessage("null"), To: Target{Kind: "authenticated"}}},
		{` {"event":"e","data":{ "a" : [1, 2] },"to":{"users":["1","2"]},"except":{"rooms":["r"],"sockets":["s"],"users":["3"]},"wait":false} `,
			&EmitRequest{Namespace: "/", Event: "e", Data: json.RawMessage(`{"a":[1,2]}`), To: Target{Kind: "users", IDs: []string{"1", "2"}},
				Except: Exclusion{Rooms: []string{"r"}, Sockets: []string{"s"}, Users: []string{"3"}}}},
		{`{"event":"e","to":{"sockets":["x"]},"except":null,"wait":true}`, &EmitRequest{Namespace: "/", Event: "e", To: Target{Kind: "sockets", IDs: []string{"x"}}, Wait: true}},
	} {
		got, err := DecodeEmit([]byte(tc.body))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", tc.body, got, err, tc.want)
		}
	}
}

func TestDecodeDisconnect(t *testing.T) {
	got, err := DecodeDisconnect([]byte(`{"to":{"rooms":["r"]},"except":{"users":["u"]},"reason":"bye"}`))
	want := &DisconnectRequest{Namespace: "/", To: Target{Kind: "rooms", IDs: []string{"r"}}, Except: Exclusion{Users: []string{"u"}}, Reason: "bye"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := DecodeDisconnect([]byte(`{"to":{"all":true},"event":"x"}`)); err == nil || err.Error() != `body: unknown field "event"` {
		t.Fatalf("unknown field: %v", err)
	}
}

// FuzzDecodeEmit: the decoder never panics, refuses only with a *RequestError, and
// what it accepts is well-formed: a non-reserved event, one target kind with ids
// where the kind needs them, valid compact JSON data.
func FuzzDecodeEmit(f *testing.F) {
	for _, s := range []string{
		`{"event":"e","to":{"all":true}}`,
		`{"namespace":"/x","event":"e","data":{"a":[1,"b",null]},"to":{"users":["1"]},"except":{"rooms":["r"],"sockets":["s"],"users":["u"]}}`,
		`{"event":"e","data":"x","to":{"rooms":["a","b"]},"wait":true}`,
		`{"event":"e","to":{"sockets":[""]}}`,
		`{"event":"connect","to":{"authenticated":true}}`,
		`{"event":"e","to":{"all":true,"users":["a"]}}`,
		`{"event":"e","to":{"all":true}} x`,
		`[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeEmit(b)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || re.Msg == "" {
				t.Fatalf("error %v is not a *RequestError", err)
			}
			return
		}
		if req.Event == "" || reservedEvents[req.Event] || req.Namespace == "" || req.Namespace[0] != '/' {
			t.Fatalf("accepted %+v", req)
		}
		switch req.To.Kind {
		case "all", "authenticated":
			if req.To.IDs != nil {
				t.Fatalf("ids for %s: %v", req.To.Kind, req.To.IDs)
			}
		case "users", "rooms", "sockets":
			if len(req.To.IDs) == 0 {
				t.Fatalf("no ids for %s", req.To.Kind)
			}
		default:
			t.Fatalf("kind %q", req.To.Kind)
		}
		if req.Data != nil {
			if !json.Valid(req.Data) {
				t.Fatalf("invalid data %q", req.Data)
			}
			// Decoding the request again gives the same request (compaction is stable).
			again, err := DecodeEmit(b)
			if err != nil || !reflect.DeepEqual(again, req) {
				t.Fatalf("not deterministic: %+v, %v", again, err)
			}
		}
	})
}
