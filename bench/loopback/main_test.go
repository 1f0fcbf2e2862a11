package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestRun: every message reaches its reader, back to back and paced, with one writer
// or several (a missing or short message is an error from run).
func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range []struct{ rate, writers int }{{0, 1}, {0, 3}, {500, 1}, {500, 3}} {
		if err := run(10, 5, 16, c.rate, c.writers); err != nil {
			t.Fatalf("rate %d, %d writers: %v", c.rate, c.writers, err)
		}
	}
}
