// Package base64id generates the 20-character ids that Engine.IO and Socket.IO use for
// sessions and sockets (socket.io lib/contrib/base64id.ts): 15 random bytes in URL-safe
// base64. Other Socket.IO peers rely on the length (the sharded Redis adapter's
// looksLikeASocketId checks for 20 characters).
package base64id

import (
	"crypto/rand"
	"encoding/base64"
)

// Len is the length of every id.
const Len = 20

// New returns a fresh random id.
func New() string {
	var b [15]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b[:])
}
