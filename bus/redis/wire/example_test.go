package wire_test

import (
	"encoding/json"
	"fmt"

	"github.com/heraldhq/herald/bus/redis/wire"
)

// A node publishes a broadcast to one room; a receiver learns the room from the channel
// name before it decodes anything, as @socket.io/redis-adapter's receivers do.
func Example() {
	ch := wire.NewChannels("", "/")
	msg := wire.Broadcast{
		UID: "herald-1",
		Packet: wire.Packet{Nsp: "/", Data: wire.Args{
			Raw:         []json.RawMessage{json.RawMessage(`"file"`), json.RawMessage(`{"_placeholder":true,"num":0}`)},
			Attachments: [][]byte{{0xca, 0xfe}},
		}},
		Opts: wire.Options{Rooms: []string{"user:42"}},
	}
	b, err := wire.EncodeBroadcast(&msg)
	if err != nil {
		panic(err)
	}
	channel := ch.ForBroadcast(msg.Opts.Rooms)
	fmt.Println("PUBLISH", channel)

	room, _ := ch.ParseBroadcast(channel)
	fmt.Println("room:", room) // a receiver without members in user:42 stops here
	got, err := wire.DecodeBroadcast(b, wire.Limits{})
	if err != nil {
		panic(err)
	}
	event, _ := got.Packet.Event()
	fmt.Printf("%s from %s: %s, attachment %x\n", event, got.UID, got.Packet.Data.Raw[1], got.Packet.Data.Attachments[0])
	// Output:
	// PUBLISH socket.io#/#user:42#
	// room: user:42
	// file from herald-1: {"_placeholder":true,"num":0}, attachment cafe
}
