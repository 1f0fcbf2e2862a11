//go:build !unix

package engineio

import "net"

// shallowReads says whether shallowRead wraps sockets on this platform.
const shallowReads = false

// shallowRead returns nc: the shallow read (shallowread_unix.go) is for unix sockets.
func shallowRead(nc net.Conn) net.Conn { return nc }

// netConn returns c.
func netConn(c net.Conn) net.Conn { return c }
