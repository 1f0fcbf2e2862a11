package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/heraldhq/herald/socketio"
)

// MaxID is the longest room name or demo user id.
const MaxID = 32

// Client-visible errors name the field at fault: "text: longer than 2000 characters".

// decodeMessage reads msgToServer's payload: an object with a string name (1 to
// MaxName characters), a string text (1 to maxText) and an optional room. Other
// fields are ignored and not forwarded.
func decodeMessage(args socketio.Args, maxText int) (Message, error) {
	fields, err := object(args, "{name, text}")
	if err != nil {
		return Message{}, err
	}
	var msg Message
	if msg.Name, err = stringField(fields, "name", MaxName); err == nil {
		msg.Name, err = checkName("name", msg.Name)
	}
	if err != nil {
		return Message{}, err
	}
	if msg.Text, err = stringField(fields, "text", maxText); err != nil {
		return Message{}, err
	}
	if raw, ok := fields["room"]; ok && !isNull(raw) {
		if msg.Room, err = idField(fields, "room"); err != nil {
			return Message{}, err
		}
	}
	return msg, nil
}

// decodeRoom reads the payload of join and leave: {"room": name}.
func decodeRoom(args socketio.Args) (string, error) {
	fields, err := object(args, "{room}")
	if err != nil {
		return "", err
	}
	return idField(fields, "room")
}

// object decodes the first argument as a JSON object.
func object(args socketio.Args, want string) (map[string]json.RawMessage, error) {
	if args.Len() == 0 {
		return nil, fmt.Errorf("payload: missing (want an object %s)", want)
	}
	return objectJSON(args.Raw[0], "payload", want)
}

// objectJSON decodes raw as a JSON object; errors name what (payload, body).
func objectJSON(raw []byte, what, want string) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("%s: want an object %s, got %s", what, want, jsonType(raw))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("%s: not valid JSON: %v", what, err)
	}
	return fields, nil
}

// stringField reads a required string field of 1 to max characters, not blank.
func stringField(fields map[string]json.RawMessage, name string, max int) (string, error) {
	raw, ok := fields[name]
	if !ok {
		return "", fmt.Errorf("%s: missing", name)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%s: want a string, got %s", name, jsonType(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: not a valid JSON string", name)
	}
	return checkText(name, s, max)
}

// checkText checks that s has 1 to max characters and is not blank.
func checkText(name, s string, max int) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s: empty", name)
	}
	// Count at most max+1 characters: a long string is refused without a full scan.
	n := 0
	for range s {
		if n++; n > max {
			return "", fmt.Errorf("%s: longer than %d characters", name, max)
		}
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%s: not valid UTF-8", name)
	}
	return s, nil
}

// checkName checks a display name: 1 to MaxName characters, not the server's own.
func checkName(field, s string) (string, error) {
	s, err := checkText(field, s, MaxName)
	if err == nil && strings.EqualFold(strings.TrimSpace(s), admin) {
		err = fmt.Errorf("%s: %q is the server's name", field, s)
	}
	return s, err
}

// idField reads a room name or user id: 1 to MaxID ASCII letters, digits, '-' or '_'.
func idField(fields map[string]json.RawMessage, name string) (string, error) {
	s, err := stringField(fields, name, MaxID)
	if err != nil {
		return "", err
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", fmt.Errorf("%s: %q has %q: use letters, digits, - or _", name, s, r)
		}
	}
	return s, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// jsonType names the type of a JSON value for an error message.
func jsonType(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
