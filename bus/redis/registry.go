package redis

import (
	"context"
	"strconv"
	"time"

	"github.com/heraldhq/herald/bus"
	"github.com/redis/rueidis"
)

var _ bus.Registry = (*Bus)(nil)

// Register adds or renews id in set: a sorted set "<set>" scored by the expiry time in
// milliseconds, and a hash "<set>:info" with the info. Listing needs no KEYS or SCAN:
// Members reads the sorted set from now on. Expired entries are pruned on every
// Register, so a killed node's entry is gone within its TTL.
func (b *Bus) Register(ctx context.Context, set, id string, info []byte, ttl time.Duration) error {
	now := time.Now().UnixMilli()
	c := b.client
	expired, err := c.Do(ctx, c.B().Zrangebyscore().Key(set).Min("-inf").Max("("+strconv.FormatInt(now, 10)).Build()).AsStrSlice()
	if err != nil {
		return err
	}
	cmds := []rueidis.Completed{
		c.B().Zadd().Key(set).ScoreMember().ScoreMember(float64(now+ttl.Milliseconds()), id).Build(),
		c.B().Hset().Key(set+":info").FieldValue().FieldValue(id, string(info)).Build(),
		c.B().Zremrangebyscore().Key(set).Min("-inf").Max("(" + strconv.FormatInt(now, 10)).Build(),
	}
	if len(expired) > 0 {
		cmds = append(cmds, c.B().Hdel().Key(set+":info").Field(expired...).Build())
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

// Deregister removes id from set.
func (b *Bus) Deregister(ctx context.Context, set, id string) error {
	c := b.client
	for _, r := range c.DoMulti(ctx,
		c.B().Zrem().Key(set).Member(id).Build(),
		c.B().Hdel().Key(set+":info").Field(id).Build()) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

// Members returns the entries of set whose expiry is still ahead.
func (b *Bus) Members(ctx context.Context, set string) (map[string][]byte, error) {
	c := b.client
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	ids, err := c.Do(ctx, c.B().Zrangebyscore().Key(set).Min(now).Max("+inf").Build()).AsStrSlice()
	if err != nil || len(ids) == 0 {
		return map[string][]byte{}, err
	}
	vals, err := c.Do(ctx, c.B().Hmget().Key(set+":info").Field(ids...).Build()).ToArray()
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(ids))
	for i, id := range ids {
		if i < len(vals) {
			s, _ := vals[i].ToString() // a missing field is nil: keep the id with no info
			out[id] = []byte(s)
		}
	}
	return out, nil
}
