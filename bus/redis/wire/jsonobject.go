package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// marshalJSON encodes v as JSON.stringify would: no HTML escaping, no newline. Raw
// values are written compacted.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// jsonObject is a JSON object by member name. Names match exactly, as in JavaScript
// (encoding/json would match struct fields case-insensitively).
type jsonObject map[string]json.RawMessage

func parseObject(b []byte) (jsonObject, error) {
	var o jsonObject
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return o, nil
}

// member unmarshals member key into v. It reports whether the member is present;
// required turns absence into an error.
func (o jsonObject) member(key string, required bool, v any) (bool, error) {
	raw, ok := o[key]
	if !ok {
		if required {
			return false, fmt.Errorf("%w: no %q", ErrMalformed, key)
		}
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil || bytes.Equal(raw, []byte("null")) {
		return false, fmt.Errorf("%w: %q is %s", ErrMalformed, key, quote(raw))
	}
	return true, nil
}

func (o jsonObject) str(key string, required bool) (string, error) {
	var s string
	_, err := o.member(key, required, &s)
	return s, err
}

func (o jsonObject) integer(key string, required bool) (int64, error) {
	var n int64
	_, err := o.member(key, required, &n)
	return n, err
}

func (o jsonObject) boolean(key string) (bool, error) {
	var v bool
	_, err := o.member(key, false, &v)
	return v, err
}

func (o jsonObject) requestType() (RequestType, error) {
	n, err := o.integer("type", true)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > int64(TypeBroadcastAck) {
		return 0, fmt.Errorf("%w: %d", ErrUnknownRequestType, n)
	}
	return RequestType(n), nil
}

// truthy reports whether member key is present and truthy in JavaScript's sense, as
// `if (request.opts)` tests it.
func (o jsonObject) truthy(key string) bool {
	switch string(o[key]) {
	case "", "null", "false", "0", `""`:
		return false
	}
	return true
}

// raw returns member key compacted, nil when absent.
func (o jsonObject) raw(key string) json.RawMessage {
	raw, ok := o[key]
	if !ok {
		return nil
	}
	return compact(raw)
}

func compact(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw // cannot happen: raw came out of json.Unmarshal
	}
	return buf.Bytes()
}

// array returns member key, a JSON array, as its compacted elements.
func (o jsonObject) array(key string) ([]json.RawMessage, error) {
	var elems []json.RawMessage
	if _, err := o.member(key, true, &elems); err != nil {
		return nil, err
	}
	for i, e := range elems {
		elems[i] = compact(e)
	}
	return elems, nil
}

// room returns member key, a room name: a string, or a number as its JavaScript
// String() text.
func (o jsonObject) room(key string) (string, error) {
	raw, ok := o[key]
	if !ok {
		return "", fmt.Errorf("%w: no %q", ErrMalformed, key)
	}
	return roomName(key, raw)
}

func roomName(key string, raw json.RawMessage) (string, error) {
	if len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
		if i, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return strconv.FormatInt(i, 10), nil
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			f = 0 // cannot happen for valid JSON but out of range: ±Inf, which ParseFloat returns
		}
		return number{kind: numFloat, f: f}.String(), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: %q has %s", ErrMalformed, key, quote(raw))
	}
	return s, nil
}

// rooms returns member key, an array of room names (see room). Absent means empty
// unless required.
func (o jsonObject) rooms(key string, required bool) ([]string, error) {
	var elems []json.RawMessage
	present, err := o.member(key, required, &elems)
	if err != nil || !present || len(elems) == 0 {
		return nil, err
	}
	rooms := make([]string, len(elems))
	for i, e := range elems {
		if rooms[i], err = roomName(key, e); err != nil {
			return nil, err
		}
	}
	return rooms, nil
}

// selector returns member key, a {rooms, except} object.
func (o jsonObject) selector(key string, required bool) (Selector, error) {
	var sub jsonObject
	var s Selector
	if _, err := o.member(key, required, &sub); err != nil {
		return s, err
	}
	var err error
	if s.Rooms, err = sub.rooms("rooms", false); err == nil {
		s.Except, err = sub.rooms("except", false)
	}
	return s, err
}

// remoteSockets returns member key, an array of RemoteSocket.
func (o jsonObject) remoteSockets(key string) ([]RemoteSocket, error) {
	var elems []jsonObject
	if _, err := o.member(key, true, &elems); err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return nil, nil
	}
	sockets := make([]RemoteSocket, len(elems))
	for i, e := range elems {
		s := &sockets[i]
		var err error
		if s.ID, err = e.str("id", true); err != nil {
			return nil, err
		}
		if s.Rooms, err = e.rooms("rooms", false); err != nil {
			return nil, err
		}
		s.Data = e.raw("data")
		var h jsonObject
		if _, err = e.member("handshake", false, &h); err != nil {
			return nil, err
		}
		if s.Handshake, err = h.handshake(); err != nil {
			return nil, err
		}
	}
	return sockets, nil
}

func (o jsonObject) handshake() (Handshake, error) {
	h := Handshake{
		Headers: orEmptyObject(o.raw("headers")),
		Query:   orEmptyObject(o.raw("query")),
		Auth:    orEmptyObject(o.raw("auth")),
	}
	var err error
	if h.Time, err = o.str("time", false); err != nil {
		return h, err
	}
	if h.Address, err = o.str("address", false); err != nil {
		return h, err
	}
	if h.XDomain, err = o.boolean("xdomain"); err != nil {
		return h, err
	}
	if h.Secure, err = o.boolean("secure"); err != nil {
		return h, err
	}
	if h.Issued, err = o.integer("issued", false); err != nil {
		return h, err
	}
	h.URL, err = o.str("url", false)
	return h, err
}
