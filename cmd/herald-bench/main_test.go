package main

import (
	"testing"

	"go.uber.org/goleak"
)

// The end-to-end tests start client and stub-server goroutines; every one of
// them must be gone when the package's tests finish.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
