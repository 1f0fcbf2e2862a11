package engineio

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func handshakeOf(h http.Header) *Handshake {
	return NewHandshake(&http.Request{URL: &url.URL{Path: "/socket.io/", RawQuery: "EIO=4&token=t"}, Header: h})
}

func TestHandshakeHeaders(t *testing.T) {
	hs := handshakeOf(http.Header{
		"Cookie":                {"a=1", "b=2"},
		"User-Agent":            {"test/1.0"},
		"Authorization":         {"Bearer x: y"}, // ": " inside a value
		"x-lower":               {"kept"},        // not canonical: canonicalised
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Content-Length":        {"0"},
		"Empty":                 {""},
		"Forged":                {"v\r\nX-Admin: 1"},
	})
	want := http.Header{
		"Cookie":        {"a=1", "b=2"},
		"User-Agent":    {"test/1.0"},
		"Authorization": {"Bearer x: y"},
		"X-Lower":       {"kept"},
		"Empty":         {""},
	}
	if got := hs.Header(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Header() = %v, want %v", got, want)
	}
	for name, v := range map[string]string{"cookie": "a=1", "AUTHORIZATION": "Bearer x: y", "X-Lower": "kept", "Upgrade": "", "Forged": "", "X-Admin": "", "Empty": ""} {
		if got := hs.HeaderValue(name); got != v {
			t.Errorf("HeaderValue(%q) = %q, want %q", name, got, v)
		}
	}
	if got := hs.HeaderValues("COOKIE"); !reflect.DeepEqual(got, []string{"a=1", "b=2"}) {
		t.Errorf("HeaderValues(COOKIE) = %q", got)
	}
	if got := hs.HeaderValues("Upgrade"); got != nil {
		t.Errorf("HeaderValues(Upgrade) = %q, want nil", got)
	}
	// Calls build a fresh map: a caller's change does not reach the session.
	hs.Header()["Cookie"][0] = "changed"
	if hs.HeaderValue("Cookie") != "a=1" {
		t.Error("Header() shares state with the handshake")
	}
	if hs.URL != "/socket.io/?EIO=4&token=t" || hs.Query().Get("token") != "t" {
		t.Errorf("URL %q", hs.URL)
	}

	// A bare WebSocket upgrade keeps nothing.
	bare := handshakeOf(http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Key": {"k"}, "Sec-Websocket-Version": {"13"}})
	if bare.Header() != nil || bare.header != "" || bare.HeaderValue("Connection") != "" {
		t.Errorf("bare upgrade kept %q", bare.header)
	}
}

// FuzzHandshakeHeader checks the compact header encoding round-trips: what
// Header() returns is exactly the kept input, and HeaderValue agrees with it.
func FuzzHandshakeHeader(f *testing.F) {
	f.Add("Cookie", "a=1", "User-Agent", "x: y")
	f.Add("x-y", "", "Upgrade", "websocket")
	f.Add("A", "1\n2", "a", "3")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		in := http.Header{}
		in[k1] = append(in[k1], v1)
		in[k2] = append(in[k2], v2)
		hs := handshakeOf(in)
		want := http.Header{}
		for k, vs := range in {
			name := http.CanonicalHeaderKey(k)
			if handshakeOnly(name) || name == "" || strings.ContainsAny(name, ":\r\n") {
				continue
			}
			for _, v := range vs {
				if !strings.ContainsAny(v, "\r\n") {
					want[name] = append(want[name], v)
				}
			}
		}
		got := hs.Header()
		if len(want) == 0 {
			want = nil
		}
		// Two keys canonicalising to one name keep both values, in key order.
		for name, vs := range got {
			if !sameValues(vs, want[name]) {
				t.Fatalf("Header()[%q] = %q, want %q (input %q)", name, vs, want[name], in)
			}
			ambiguous := false // names that differ only beyond ASCII case (not HTTP tokens)
			for other := range got {
				ambiguous = ambiguous || other != name && strings.EqualFold(other, name)
			}
			if !ambiguous && hs.HeaderValue(asciiLower(name)) != vs[0] {
				t.Fatalf("HeaderValue(%q) = %q, want %q", name, hs.HeaderValue(name), vs[0])
			}
		}
		if len(got) != len(want) {
			t.Fatalf("Header() = %q, want %q", got, want)
		}
	})
}

// sameValues compares as multisets: Go's map order decides which of two
// same-named keys comes first.
func sameValues(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, v := range a {
		n[v]++
	}
	for _, v := range b {
		n[v]--
	}
	for _, c := range n {
		if c != 0 {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
