package plainws

import (
	"encoding/json"
	"errors"
)

// Envelope errors. Each maps to a WebSocket close code (see closeFor).
var (
	ErrInvalidJSON = errors.New("plainws: frame is not valid JSON")
	ErrNoEvent     = errors.New(`plainws: frame is not an object with a string "event"`)
)

// DecodeEnvelope decodes a text frame of the NestJS WsAdapter shape
// {"event": "name", "data": <any JSON>}. data is nil when the frame has no "data"
// member. Other members are ignored, as NestJS does.
func DecodeEnvelope(b []byte) (event string, data json.RawMessage, err error) {
	if !json.Valid(b) {
		return "", nil, ErrInvalidJSON
	}
	var env struct {
		Event *string         `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	if len(b) == 0 || b[0] != '{' {
		return "", nil, ErrNoEvent
	}
	if err := json.Unmarshal(b, &env); err != nil || env.Event == nil {
		return "", nil, ErrNoEvent
	}
	return *env.Event, env.Data, nil
}
