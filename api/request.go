package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// DefaultNamespace is the namespace of a request that names none.
const DefaultNamespace = "/"

// reservedEvents are the event names no one may emit (socket.io-parser
// RESERVED_EVENTS; socketio refuses them too, this copy lets the decoder name the field).
var reservedEvents = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true, "disconnecting": true,
	"newListener": true, "removeListener": true,
}

// Target kinds of a "to" selector, in the order error messages list them.
var targetKinds = []string{"all", "authenticated", "users", "rooms", "sockets"}

// Kinds an "except" selector may list.
var exceptKinds = []string{"rooms", "sockets", "users"}

// Target is a decoded "to" selector: exactly one of its kinds is set.
type Target struct {
	// Kind is one of "all", "authenticated", "users", "rooms", "sockets".
	Kind string
	// IDs are the users, rooms or socket ids (nil for "all" and "authenticated").
	IDs []string
}

// Exclusion is a decoded "except" selector; each list may be empty.
type Exclusion struct {
	Rooms, Sockets, Users []string
}

// EmitRequest is a decoded POST /api/v1/emit body.
type EmitRequest struct {
	Namespace string
	Event     string
	// Data is the event's single argument as the body gave it, compacted (insignificant
	// whitespace removed); nil when the body has no "data" (the event is sent without
	// arguments).
	Data   json.RawMessage
	To     Target
	Except Exclusion
	// Wait asks for delivery accounting: the answer waits for every node's count.
	Wait bool
	// Timeout bounds that wait; zero means the server's default (Config.WaitTimeout).
	Timeout time.Duration
}

// MaxWaitTimeout is the largest "timeout" an emit may ask for.
const MaxWaitTimeout = time.Minute

// DisconnectRequest is a decoded POST /api/v1/disconnect body.
type DisconnectRequest struct {
	Namespace string
	To        Target
	Except    Exclusion
	Reason    string
}

// RequestError is a request the API refuses with 400; its message names the field.
type RequestError struct{ Msg string }

func (e *RequestError) Error() string { return e.Msg }

func badf(format string, a ...any) error { return &RequestError{Msg: fmt.Sprintf(format, a...)} }

// emitBody and disconnectBody are the wire shapes; selectors stay raw so that unknown
// and duplicate kinds can be named.
type emitBody struct {
	Namespace *string         `json:"namespace"`
	Event     *string         `json:"event"`
	Data      json.RawMessage `json:"data"`
	To        json.RawMessage `json:"to"`
	Except    json.RawMessage `json:"except"`
	Wait      *bool           `json:"wait"`
	Timeout   *int64          `json:"timeout"`
}

type disconnectBody struct {
	Namespace *string         `json:"namespace"`
	To        json.RawMessage `json:"to"`
	Except    json.RawMessage `json:"except"`
	Reason    *string         `json:"reason"`
}

// DecodeEmit parses and validates an emit body. Errors are *RequestError naming the
// field. It does no I/O beyond reading b and keeps no reference to it except Data.
func DecodeEmit(b []byte) (*EmitRequest, error) {
	var body emitBody
	if err := decodeStrict(b, &body); err != nil {
		return nil, err
	}
	req := &EmitRequest{}
	var err error
	if req.Namespace, err = namespace(body.Namespace); err != nil {
		return nil, err
	}
	switch {
	case body.Event == nil:
		return nil, badf("event: required")
	case *body.Event == "":
		return nil, badf("event: must not be empty")
	case reservedEvents[*body.Event]:
		return nil, badf("event: %q is reserved", *body.Event)
	}
	req.Event = *body.Event
	if body.Data != nil {
		// Compacted, not re-encoded: the bus (msgpack) drops insignificant whitespace
		// on its way to other nodes, so this node's sockets get the same bytes as theirs.
		var buf bytes.Buffer
		if err := json.Compact(&buf, body.Data); err != nil {
			return nil, badf("data: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		req.Data = buf.Bytes()
	}
	if req.To, err = decodeTarget(body.To); err != nil {
		return nil, err
	}
	if req.Except, err = decodeExclusion(body.Except); err != nil {
		return nil, err
	}
	req.Wait = body.Wait != nil && *body.Wait
	if body.Timeout != nil {
		ms := *body.Timeout
		if ms < 1 || ms > MaxWaitTimeout.Milliseconds() {
			return nil, badf("timeout: must be milliseconds from 1 to %d, got %d", MaxWaitTimeout.Milliseconds(), ms)
		}
		req.Timeout = time.Duration(ms) * time.Millisecond
	}
	return req, nil
}

// DecodeDisconnect parses and validates a disconnect body (see DecodeEmit).
func DecodeDisconnect(b []byte) (*DisconnectRequest, error) {
	var body disconnectBody
	if err := decodeStrict(b, &body); err != nil {
		return nil, err
	}
	req := &DisconnectRequest{}
	var err error
	if req.Namespace, err = namespace(body.Namespace); err != nil {
		return nil, err
	}
	if req.To, err = decodeTarget(body.To); err != nil {
		return nil, err
	}
	if req.Except, err = decodeExclusion(body.Except); err != nil {
		return nil, err
	}
	if body.Reason != nil {
		req.Reason = *body.Reason
	}
	return req, nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields and trailing
// data, and turns encoding/json's errors into ones that name the field.
func decodeStrict(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return badf("body: empty; want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return badf("%s: must be %s, got %s", te.Field, kindName(te.Type.Kind().String()), te.Value)
		case errors.As(err, &te):
			return badf("body: must be a JSON object, got %s", te.Value)
		case errors.As(err, &se):
			return badf("body: malformed JSON at offset %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badf("body: malformed JSON: unexpected end")
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return badf("body: unknown field %s", f)
		}
		return badf("body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badf("body: unexpected data after the JSON object")
	}
	return nil
}

func kindName(k string) string {
	switch k {
	case "ptr":
		return "a value"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "int", "int64":
		return "an integer"
	}
	return "a " + k
}

func namespace(p *string) (string, error) {
	if p == nil || *p == "" {
		return DefaultNamespace, nil
	}
	if !strings.HasPrefix(*p, "/") {
		return "", badf("namespace: must start with /, got %q", *p)
	}
	return *p, nil
}

// decodeTarget decodes the "to" selector: an object with exactly one known kind.
func decodeTarget(raw json.RawMessage) (Target, error) {
	var t Target
	if isAbsent(raw) {
		return t, badf("to: required, one of %s", strings.Join(targetKinds, ", "))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return t, badf("to: must be an object with one of %s", strings.Join(targetKinds, ", "))
	}
	var kinds []string
	for k := range m {
		if !slices.Contains(targetKinds, k) {
			return t, badf("to: unknown kind %q (want one of %s)", k, strings.Join(targetKinds, ", "))
		}
		kinds = append(kinds, k)
	}
	switch len(kinds) {
	case 0:
		return t, badf("to: required, one of %s", strings.Join(targetKinds, ", "))
	case 1:
	default:
		slices.Sort(kinds)
		return t, badf("to: give exactly one kind, got %s", strings.Join(kinds, ", "))
	}
	t.Kind = kinds[0]
	switch t.Kind {
	case "all", "authenticated":
		if string(bytes.TrimSpace(m[t.Kind])) != "true" {
			return t, badf("to.%s: must be true", t.Kind)
		}
	default:
		ids, err := decodeIDs("to."+t.Kind, m[t.Kind])
		if err != nil {
			return t, err
		}
		if len(ids) == 0 {
			return t, badf("to.%s: must not be empty", t.Kind)
		}
		t.IDs = ids
	}
	return t, nil
}

// decodeExclusion decodes the optional "except" selector.
func decodeExclusion(raw json.RawMessage) (Exclusion, error) {
	var e Exclusion
	if isAbsent(raw) {
		return e, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return e, badf("except: must be an object with any of %s", strings.Join(exceptKinds, ", "))
	}
	for k, v := range m {
		ids, err := decodeIDs("except."+k, v)
		switch k {
		case "rooms":
			e.Rooms = ids
		case "sockets":
			e.Sockets = ids
		case "users":
			e.Users = ids
		default:
			return e, badf("except: unknown kind %q (want any of %s)", k, strings.Join(exceptKinds, ", "))
		}
		if err != nil {
			return e, err
		}
	}
	return e, nil
}

func isAbsent(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

// decodeIDs decodes an array of non-empty strings.
func decodeIDs(field string, raw json.RawMessage) ([]string, error) {
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, badf("%s: must be an array of strings", field)
	}
	for i, id := range ids {
		if id == "" {
			return nil, badf("%s[%d]: must not be empty", field, i)
		}
	}
	return ids, nil
}
