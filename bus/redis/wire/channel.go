package wire

import "strings"

// DefaultKey is the adapter's default channel prefix (opts.key in lib/index.ts).
const DefaultKey = "socket.io"

// Channels are the Redis channel names of one namespace under one key prefix, built as
// the RedisAdapter constructor builds them (lib/index.ts):
//
//	broadcasts    key#nsp#          (no room, or several rooms)
//	              key#nsp#room#     (exactly one room)
//	requests      key-request#nsp#
//	responses     key-response#nsp#  and  key-response#nsp#uid#
//
// The zero value is not usable; call NewChannels.
type Channels struct {
	Key       string // prefix, DefaultKey when NewChannels is given ""
	Nsp       string // namespace, "/" for the main one
	Broadcast string // key#nsp#
	Request   string // key-request#nsp#
	Response  string // key-response#nsp#
}

// NewChannels returns the channel names of namespace nsp under prefix key ("" means
// DefaultKey).
func NewChannels(key, nsp string) Channels {
	if key == "" {
		key = DefaultKey
	}
	return Channels{
		Key:       key,
		Nsp:       nsp,
		Broadcast: key + "#" + nsp + "#",
		Request:   key + "-request#" + nsp + "#",
		Response:  key + "-response#" + nsp + "#",
	}
}

// Room returns the channel of a broadcast to exactly one room: key#nsp#room#.
func (c Channels) Room(room string) string {
	return c.Broadcast + room + "#"
}

// SpecificResponse returns the response channel of one node, key-response#nsp#uid#.
// A Node adapter with publishOnSpecificResponseChannel answers a request there, uid
// being the requester's.
func (c Channels) SpecificResponse(uid string) string {
	return c.Response + uid + "#"
}

// Pattern returns the pattern every adapter PSUBSCRIBEs for the namespace's broadcasts,
// key#nsp#*. Unlike Node, it escapes the glob characters *?[]\ of key and nsp, so that a
// namespace such as "/a*" does not also match the broadcasts of "/ab". The channels
// themselves are unchanged, so Node's publishes still match.
func (c Channels) Pattern() string {
	return escapeGlob(c.Broadcast) + "*"
}

func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ForBroadcast returns the channel a broadcast to rooms is published on: the room's
// channel when rooms names exactly one distinct room (`opts.rooms.size === 1` on a Set
// in RedisAdapter.broadcast), else the namespace's channel.
func (c Channels) ForBroadcast(rooms []string) string {
	if len(rooms) == 0 {
		return c.Broadcast
	}
	for _, r := range rooms[1:] {
		if r != rooms[0] {
			return c.Broadcast
		}
	}
	return c.Room(rooms[0])
}

// ParseBroadcast returns the room of a channel received through Pattern, "" for the
// namespace's own channel, as the adapter's onmessage does before decoding anything
// (`channel.slice(this.channel.length, -1)`): a receiver that holds no socket in room
// can drop the message unread. ok is false when channel is not one of the namespace's
// broadcast channels.
func (c Channels) ParseBroadcast(channel string) (room string, ok bool) {
	if channel == c.Broadcast {
		return "", true
	}
	rest, found := strings.CutPrefix(channel, c.Broadcast)
	if !found || !strings.HasSuffix(rest, "#") {
		return "", false
	}
	return rest[:len(rest)-1], true
}

// ParseChannel splits a broadcast channel key#nsp# or key#nsp#room# into its namespace
// and room without knowing the namespace beforehand. The namespace ends at the first
// '#' after the prefix, so a namespace that contains '#' is misread (a room may contain
// '#'); use Channels.ParseBroadcast when the namespace is known. ok is false for any
// other channel, request and response channels included.
func ParseChannel(key, channel string) (nsp, room string, ok bool) {
	if key == "" {
		key = DefaultKey
	}
	rest, found := strings.CutPrefix(channel, key+"#")
	if !found {
		return "", "", false
	}
	nsp, rest, found = strings.Cut(rest, "#")
	if !found || nsp == "" {
		return "", "", false
	}
	if rest == "" {
		return nsp, "", true
	}
	if !strings.HasSuffix(rest, "#") {
		return "", "", false
	}
	return nsp, rest[:len(rest)-1], true
}
