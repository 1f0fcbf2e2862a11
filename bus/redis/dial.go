package redis

import (
	"net"
	"time"
)

func netDialer() net.Dialer {
	return net.Dialer{Timeout: DefaultDialTimeout, KeepAlive: 30 * time.Second}
}
