// Package wire is the wire codec of Herald's Redis bus: the channel names, messages
// and encodings of @socket.io/redis-adapter 8 in its classic pub/sub mode, and of
// @socket.io/redis-emitter 5, so that Herald nodes and Node.js socket.io servers share
// one cluster and the emitter reaches Herald's clients.
//
// The package does no I/O and starts no goroutines: it turns messages into bytes and
// back. The Redis client, subscriptions and delivery live elsewhere. Every function is
// safe for concurrent use.
//
// # Messages
//
// Channels names the channels of one namespace (key#nsp#, key#nsp#room#,
// key-request#nsp#, key-response#nsp#[uid#]). Channels.ParseBroadcast reads the room
// back out of a received channel name, so that a node can drop a message for a room
// it holds no socket of without decoding it, as the adapter's onmessage does.
//
// A Broadcast is the msgpack array [uid, {type: 2, data, nsp}, {rooms, except, flags}]
// published by RedisAdapter.broadcast and by the emitter. Requests and responses
// between nodes (Request, Response) are JSON, except a BROADCAST request (type 7) and
// a BROADCAST_ACK response (type 9), which are msgpack; a decoder tells them apart by
// a first byte '{'.
//
// # Arguments
//
// Event arguments are JSON-like values in msgpack, written by notepack.io: binary is a
// msgpack bin in place, a Date the timestamp extension. Herald holds arguments as
// JSON with Socket.IO placeholders plus attachments (Args, the shape of socketio.Args),
// which is what it sends to clients. The decoders convert msgpack to that form and the
// encoders convert back, with notepack.io's choices: map keys in the JSON's order,
// integers in the fewest bytes, other numbers as float64.
//
// # Untrusted input
//
// Anyone who can publish on the Redis server can send these bytes, so decoders are
// strict, bound sizes, nesting and attachment counts (Limits), return a wrapped
// sentinel error (ErrMalformed and others) for bad input and never panic; each decoder
// is fuzzed. Decoded values alias the input: attachments are slices of it.
//
// The rules come from @socket.io/redis-adapter 8.3.0 lib/index.ts,
// @socket.io/redis-emitter 5.1.0 lib/index.ts and notepack.io 3.0.1; TestNodeCompat
// checks them against those packages over a real Redis server.
package wire
