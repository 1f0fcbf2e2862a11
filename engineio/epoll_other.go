//go:build !linux

package engineio

// epollSupported says whether Config.EpollReads can take effect on this platform.
const epollSupported = false

// poller is Linux-only; elsewhere every WebSocket is read by gws's read loop.
type poller struct{}

func newPoller(*Server) *poller             { return nil }
func (p *poller) add(*Session, wsConn) bool { return false }

func (p *poller) addProbe(*Session, wsConn, func()) bool { return false }
func (p *poller) remove(uint64)                          {}
func (p *poller) stop()                                  {}
