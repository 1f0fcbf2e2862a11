//go:build !linux

package main

import (
	"context"
	"errors"
)

// epollSupported says whether Dialer.Epoll can take effect: not on this system,
// where every connection is read by a gws reader goroutine.
const epollSupported = false

// epollGroup holds nothing where there is no epoll.
type epollGroup struct{}

// dialEpoll is never called here (Dialer.useEpoll is false).
func (d *Dialer) dialEpoll(context.Context, string, *Client) error {
	return errors.New("the epoll client needs Linux")
}
