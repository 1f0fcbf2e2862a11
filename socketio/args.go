package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/heraldhq/herald/internal/jsonstr"
	"math"
	"strconv"
)

// Args are the arguments of an event or an ack as they arrived: each argument's JSON,
// with binary values left as Socket.IO placeholders ({"_placeholder":true,"num":N}),
// and the binary attachments those placeholders refer to.
//
// An Args value passed to Emit or Ack is sent as those same arguments, binary included,
// which is how a handler forwards what it received.
type Args struct {
	Raw         []json.RawMessage
	Attachments [][]byte
}

// Len returns the number of arguments.
func (a Args) Len() int { return len(a.Raw) }

// Decode unmarshals argument i into v with encoding/json.
func (a Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a.Raw) {
		return errors.New("socketio: argument index out of range")
	}
	return json.Unmarshal(a.Raw[i], v)
}

// Bytes returns the attachment when argument i is a binary placeholder.
func (a Args) Bytes(i int) ([]byte, bool) {
	if i < 0 || i >= len(a.Raw) {
		return nil, false
	}
	var ph struct {
		Placeholder bool `json:"_placeholder"`
		Num         *int `json:"num"`
	}
	if json.Unmarshal(a.Raw[i], &ph) != nil || !ph.Placeholder || ph.Num == nil {
		return nil, false
	}
	if *ph.Num < 0 || *ph.Num >= len(a.Attachments) {
		return nil, false
	}
	return a.Attachments[*ph.Num], true
}

// String returns argument i when it is a JSON string.
func (a Args) String(i int) (string, bool) {
	var s string
	if i < 0 || i >= len(a.Raw) || len(a.Raw[i]) == 0 || a.Raw[i][0] != '"' {
		return "", false
	}
	if json.Unmarshal(a.Raw[i], &s) != nil {
		return "", false
	}
	return s, true
}

// ErrArgsAfterBinary is returned when an Args value follows other binary arguments in
// one emit: its placeholders would need renumbering.
var ErrArgsAfterBinary = errors.New("socketio: Args with attachments must come before other binary arguments")

// encodedArgs is a list of arguments encoded once: the JSON of each argument (commas
// between them, no brackets), where each one ends, and the binary attachments.
type encodedArgs struct {
	json  []byte
	count int
	ends  []int // ends[i] is the offset just past argument i in json
	atts  [][]byte
}

// raws returns each argument's JSON, slices of e.json (the bus takes them as they are,
// without splitting the list again).
func (e *encodedArgs) raws() []json.RawMessage {
	out := make([]json.RawMessage, len(e.ends))
	start := 0
	for i, end := range e.ends {
		out[i] = json.RawMessage(e.json[start:end:end])
		start = end + 1 // past the comma
	}
	return out
}

// encodeArgs encodes emit arguments. Supported: nil, string, bool, integers, floats,
// []byte (sent as binary), json.RawMessage (sent verbatim), Args (expanded), and
// anything encoding/json accepts (HTML characters left unescaped, as JSON.stringify).
func encodeArgs(args []any) (encodedArgs, error) {
	var e encodedArgs
	for _, a := range args {
		if ra, ok := a.(Args); ok {
			if len(ra.Attachments) > 0 && len(e.atts) > 0 {
				return e, ErrArgsAfterBinary
			}
			for _, r := range ra.Raw {
				e.sep()
				e.json = append(e.json, r...)
				e.ends = append(e.ends, len(e.json))
			}
			e.atts = append(e.atts, ra.Attachments...)
			continue
		}
		e.sep()
		var err error
		if e.json, err = e.appendValue(e.json, a); err != nil {
			return e, err
		}
		e.ends = append(e.ends, len(e.json))
	}
	return e, nil
}

func (e *encodedArgs) sep() {
	if e.count > 0 {
		e.json = append(e.json, ',')
	}
	e.count++
}

func (e *encodedArgs) appendValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return jsonstr.AppendString(dst, v), nil
	case []byte:
		dst = append(dst, `{"_placeholder":true,"num":`...)
		dst = strconv.AppendInt(dst, int64(len(e.atts)), 10)
		e.atts = append(e.atts, v)
		return append(dst, '}'), nil
	case json.RawMessage:
		if len(v) == 0 {
			return append(dst, "null"...), nil
		}
		return append(dst, v...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case float64:
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			return strconv.AppendFloat(dst, v, 'f', -1, 64), nil
		}
	}
	return appendMarshal(dst, v)
}

// appendMarshal appends v as encoding/json would, without HTML escaping.
func appendMarshal(dst []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encode adds a newline
}
