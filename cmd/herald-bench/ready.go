package main

// Waiting for a cluster's room subscriptions before the first send.
//
// A Herald node subscribes to a room's channel (key#nsp#room#) when the room gets
// its first local member, and the subscription is applied in the background
// (docs/ARCHITECTURE.md, interest routing): a message published to Redis in
// between is not delivered on that node. A Node socket.io server with
// @socket.io/redis-adapter PSUBSCRIBEs key#nsp#* when the namespace is created,
// so it receives every broadcast from the start.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/redis/rueidis"
)

// numsubBatch is how many channels one PUBSUB NUMSUB asks about.
const numsubBatch = 1000

// waitSubscribed waits until, for every channel, PUBSUB NUMSUB reports at least
// want[channel] subscribers, or some connection has a pattern subscription
// (PUBSUB NUMPAT > 0: Node's adapter, whose pattern covers every channel of the
// namespace). Each node has one subscription connection, so want is the number
// of nodes that hold a receiver. It polls every 10 ms, for at most timeout (10 s
// when zero), and then says which channels are still short.
func waitSubscribed(ctx context.Context, addr string, want map[string]int, timeout time.Duration) error {
	if len(want) == 0 {
		return nil
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	client, err := newRedisClient(addr)
	if err != nil {
		return err
	}
	defer client.Close()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	short := slices.Sorted(maps.Keys(want))
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		// Each query is bounded by ctx (the run's) and by Redis answering at all.
		qctx, cancel := context.WithTimeout(ctx, timeout)
		patterns, err := client.Do(qctx, client.B().PubsubNumpat().Build()).AsInt64()
		if err == nil && patterns > 0 {
			cancel()
			return nil
		}
		if err == nil {
			short, err = stillShort(qctx, client, short, want)
		}
		cancel()
		if err == nil && len(short) == 0 {
			return nil
		}
		select {
		case <-poll.C:
			continue
		case <-ctx.Done():
		case <-deadline.C:
		}
		if err != nil {
			return fmt.Errorf("waiting for the nodes' subscriptions: %w", err)
		}
		return fmt.Errorf("after %v, %d of %d channels still lack a node's subscription (first: %s wants %d)",
			timeout, len(short), len(want), short[0], want[short[0]])
	}
}

// stillShort returns the channels of short whose subscriber count is below want.
func stillShort(ctx context.Context, client rueidis.Client, short []string, want map[string]int) ([]string, error) {
	var out []string
	for batch := range slices.Chunk(short, numsubBatch) {
		counts, err := client.Do(ctx, client.B().PubsubNumsub().Channel(batch...).Build()).AsIntMap()
		if err != nil {
			return short, err
		}
		for _, ch := range batch {
			if counts[ch] < int64(want[ch]) {
				out = append(out, ch)
			}
		}
	}
	return out, nil
}
