package base64id

import "testing"

func TestNew(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := New()
		if len(id) != Len {
			t.Fatalf("len(%q) = %d, want %d", id, len(id), Len)
		}
		for _, c := range id {
			ok := c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
			if !ok {
				t.Fatalf("id %q has character %q outside the URL-safe alphabet", id, c)
			}
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}
