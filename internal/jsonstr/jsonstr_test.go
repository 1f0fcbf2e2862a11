package jsonstr

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppend(t *testing.T) {
	for in, want := range map[string]string{
		"plain": `"plain"`, "<>&": `"<>&"`, "q\"b\\": `"q\"b\\"`, "\n\t\x01": `"\n\t\u0001"`,
		"\u2028": "\"\u2028\"", "é€": `"é€"`, "\xff": "\"\ufffd\"", "\xe2\x82": "\"\ufffd\"",
	} {
		if got := string(AppendString(nil, in)); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzAppendString checks AppendString against encoding/json: both must decode to
// the same string (encoding/json escapes HTML characters; JSON.stringify does not).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "<>&", "quote\"back\\slash", "\x00\x1f\n\t", "héllo €", "\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString(nil, s)
		if !json.Valid(got) {
			t.Fatalf("invalid JSON %q for %q", got, s)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) {
			if back != s {
				t.Fatalf("%q: decodes to %q", s, back)
			}
			return
		}
		// Invalid UTF-8 becomes U+FFFD once per maximal subpart (as Node decodes it),
		// which encoding/json does once per byte: only the valid parts must survive.
		if !utf8.ValidString(back) || len(back) == 0 || strings.Count(back, "\uFFFD") > len(s) {
			t.Fatalf("%q: decodes to %q", s, back)
		}
	})
}
