package wire

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines: the package starts none, but TestNodeCompat
// runs rueidis clients, which must be closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
