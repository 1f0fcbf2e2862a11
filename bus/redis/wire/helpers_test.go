package wire

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// unhex decodes hex written with optional spaces and newlines.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// jsonArgs builds Args from JSON texts and attachments.
func jsonArgs(atts [][]byte, raw ...string) Args {
	a := Args{Attachments: atts}
	for _, r := range raw {
		a.Raw = append(a.Raw, json.RawMessage(r))
	}
	return a
}

func ptr[T any](v T) *T { return &v }

func ms(n int64) *time.Duration { return ptr(time.Duration(n) * time.Millisecond) }
