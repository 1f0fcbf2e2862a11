package chat

import (
	"context"
	"log/slog"
	"maps"
	"slices"
)

// Online counts. A join, leave or disconnect marks its room (and the namespace)
// dirty; one goroutine counts each dirty room's members on every node and sends the
// count to the room: roomCount {"room", "count"}, or online {"count"} for the
// namespace. A burst of changes costs one count per room, and a node that saw the
// change tells every node's members, so a count changes everywhere at once. Two
// nodes that count the same room at the same time may deliver their counts in either
// order; the next change corrects a stale one (good enough for a demo).

// markDirty schedules a count of room ("" is the namespace).
func (c *Chat) markDirty(room string) {
	c.mu.Lock()
	c.dirty[room] = struct{}{}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // already woken: it takes every dirty room at once
	}
}

// takeDirty returns the dirty rooms and clears the set.
func (c *Chat) takeDirty() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	rooms := slices.Sorted(maps.Keys(c.dirty))
	clear(c.dirty)
	return rooms
}

// countLoop is the count goroutine; it returns on Close.
func (c *Chat) countLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		}
		for _, room := range c.takeDirty() {
			n, err := c.count(c.ctx, room)
			if c.ctx.Err() != nil {
				return
			}
			if err != nil {
				// Some node did not answer: a partial count would be wrong, keep the old.
				c.log.LogAttrs(c.ctx, slog.LevelWarn, "chat: count not updated", slog.String("room", room), slog.String("err", err.Error()))
				continue
			}
			if room == "" {
				err = c.nsp.Emit(EventOnline, map[string]int{"count": n})
			} else {
				err = c.nsp.To(roomPrefix+room).Emit(EventRoomCount, map[string]any{"room": room, "count": n})
			}
			if err != nil {
				c.log.Error("chat: count not sent", "room", room, "err", err.Error())
			}
		}
	}
}

// count returns how many sockets are in room ("" is the namespace) on every node.
func (c *Chat) count(ctx context.Context, room string) (int, error) {
	cl := c.node.Cluster()
	if cl == nil {
		if room == "" {
			return c.nsp.Count(), nil
		}
		return c.nsp.RoomSize(roomPrefix + room), nil
	}
	var rooms []string
	if room != "" {
		rooms = []string{roomPrefix + room}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	socks, err := cl.FetchSockets(ctx, Namespace, rooms, nil)
	return len(socks), err
}
