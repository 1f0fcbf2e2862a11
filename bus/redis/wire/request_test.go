package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// requestCaptures are requests as the Node packages publish them (protocol.md §5.3 and
// §6, the JSON from JSON.stringify and the msgpack from notepack.io). Each encodes back
// to the same bytes.
var requestCaptures = []struct {
	name string
	wire string // JSON, or hex for msgpack
	hex  bool
	want Request
}{
	{"sockets (adapter v7)", `{"uid":"WZ3S_l","requestId":"Bu7C57","type":0,"rooms":["room1"]}`, false,
		&SocketsRequest{UID: "WZ3S_l", RequestID: "Bu7C57", Rooms: []string{"room1"}}},
	{"allRooms", `{"uid":"WZ3S_l","requestId":"Bu7C57","type":1}`, false,
		&AllRoomsRequest{UID: "WZ3S_l", RequestID: "Bu7C57"}},
	{"socketsJoin", `{"uid":"WZ3S_l","type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["room9"]}`, false,
		&SocketsJoinRequest{UID: "WZ3S_l", Opts: Selector{Rooms: []string{"room1"}}, Rooms: []string{"room9"}}},
	{"emitter socketsJoin", `{"type":2,"opts":{"rooms":["room1"],"except":[]},"rooms":["room7"]}`, false,
		&SocketsJoinRequest{Opts: Selector{Rooms: []string{"room1"}}, Rooms: []string{"room7"}}},
	{"emitter socketsLeave", `{"type":3,"opts":{"rooms":[],"except":["x"]},"rooms":["room7","room8"]}`, false,
		&SocketsLeaveRequest{Opts: Selector{Except: []string{"x"}}, Rooms: []string{"room7", "room8"}}},
	{"emitter disconnectSockets", `{"type":4,"opts":{"rooms":["room1"],"except":[]},"close":true}`, false,
		&DisconnectSocketsRequest{Opts: Selector{Rooms: []string{"room1"}}, Close: true}},
	{"legacy join", `{"uid":"WZ3S_l","requestId":"r1","type":2,"sid":"N_0mBjMZXaKKceOJAAAA","room":"room1"}`, false,
		&RemoteJoinRequest{UID: "WZ3S_l", RequestID: "r1", SID: "N_0mBjMZXaKKceOJAAAA", Room: "room1"}},
	{"legacy leave", `{"uid":"WZ3S_l","requestId":"r1","type":3,"sid":"s","room":"room1"}`, false,
		&RemoteLeaveRequest{UID: "WZ3S_l", RequestID: "r1", SID: "s", Room: "room1"}},
	{"legacy disconnect", `{"uid":"WZ3S_l","requestId":"r1","type":4,"sid":"s","close":false}`, false,
		&RemoteDisconnectRequest{UID: "WZ3S_l", RequestID: "r1", SID: "s"}},
	{"fetchSockets", `{"uid":"WZ3S_l","requestId":"m-a7UN","type":5,"opts":{"rooms":[],"except":[]}}`, false,
		&FetchSocketsRequest{UID: "WZ3S_l", RequestID: "m-a7UN"}},
	{"serverSideEmit", `{"uid":"WZ3S_l","type":6,"data":["ping-servers","x"]}`, false,
		&ServerSideEmitRequest{UID: "WZ3S_l", Data: []json.RawMessage{json.RawMessage(`"ping-servers"`), json.RawMessage(`"x"`)}}},
	{"serverSideEmit with ack", `{"uid":"WZ3S_l","requestId":"VwIT9c","type":6,"data":["ping-servers","y"]}`, false,
		&ServerSideEmitRequest{UID: "WZ3S_l", RequestID: "VwIT9c", Data: []json.RawMessage{json.RawMessage(`"ping-servers"`), json.RawMessage(`"y"`)}}},
	{"emitter serverSideEmit", `{"uid":"emitter","type":6,"data":["hello",{"a":[1,"</b>"]}]}`, false,
		&ServerSideEmitRequest{UID: "emitter", Data: []json.RawMessage{json.RawMessage(`"hello"`), json.RawMessage(`{"a":[1,"</b>"]}`)}}},
	{"broadcast with ack", // io.timeout(1000).emitWithAck("ask")
		`85a3756964a6575a33535f6ca9726571756573744964a65a436b675257a47479706507a67061636b657483a47479706502
		 a46461746191a361736ba36e7370a12fa46f70747383a5726f6f6d7390a665786365707490a5666c61677381a774696d656f7574cd03e8`, true,
		&BroadcastRequest{UID: "WZ3S_l", RequestID: "ZCkgRW",
			Packet: Packet{Nsp: "/", Data: jsonArgs(nil, `"ask"`)},
			Opts:   Options{Flags: Flags{Timeout: ms(1000)}}}},
}

func TestDecodeRequest(t *testing.T) {
	for _, tc := range requestCaptures {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.wire)
			if tc.hex {
				b = unhex(t, tc.wire)
			}
			got, err := DecodeRequest(b, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decoded %#v\nwant %#v", got, tc.want)
			}
			enc, err := EncodeRequest(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, b) {
				t.Fatalf("encoded\n%s\nwant\n%s", enc, b)
			}
		})
	}
}

func TestDecodeRequestLenient(t *testing.T) {
	tests := []struct {
		wire string
		want Request
	}{
		{` {"type":1}`, nil}, // not '{' first: msgpack, and not valid msgpack
		{`{"type":1,"requestId":"a","uid":"u","extra":[1,{}]}`, &AllRoomsRequest{UID: "u", RequestID: "a"}},
		{`{"type":2,"opts":{},"rooms":[7,1.5]}`, &SocketsJoinRequest{Rooms: []string{"7", "1.5"}}},
		{`{"type":2,"opts":null,"requestId":"a","sid":"s","room":12}`, &RemoteJoinRequest{RequestID: "a", SID: "s", Room: "12"}},
		{`{"type":4,"opts":{"rooms":["r"]}}`, &DisconnectSocketsRequest{Opts: Selector{Rooms: []string{"r"}}}},
		{`{"type":6,"data":[ "e" , { "a" : 1 } ]}`, &ServerSideEmitRequest{Data: []json.RawMessage{json.RawMessage(`"e"`), json.RawMessage(`{"a":1}`)}}},
	}
	for _, tc := range tests {
		got, err := DecodeRequest([]byte(tc.wire), Limits{})
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: no error", tc.wire)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.wire, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: decoded %#v, want %#v", tc.wire, got, tc.want)
		}
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct {
		wire string
		lim  Limits
		want error
	}{
		{``, Limits{}, ErrMalformed},
		{`{`, Limits{}, ErrMalformed},
		{`{"type":1,"requestId":"a"} `, Limits{}, nil}, // trailing space is valid JSON
		{`{"type":1,"requestId":"a"}x`, Limits{}, ErrMalformed},
		{`{"type":"1","requestId":"a"}`, Limits{}, ErrMalformed},
		{`{"type":1.5,"requestId":"a"}`, Limits{}, ErrMalformed},
		{`{"Type":1,"requestId":"a"}`, Limits{}, ErrMalformed}, // names match exactly
		{`{"type":1}`, Limits{}, ErrMalformed},
		{`{"type":1,"requestId":null}`, Limits{}, ErrMalformed},
		{`{"type":1,"requestId":"a","uid":5}`, Limits{}, ErrMalformed},
		{`{"type":10}`, Limits{}, ErrUnknownRequestType},
		{`{"type":-1}`, Limits{}, ErrUnknownRequestType},
		{`{"type":8,"requestId":"a","clientCount":1}`, Limits{}, ErrUnknownRequestType},
		{`{"type":7,"requestId":"a"}`, Limits{}, ErrMalformed},
		{`{"type":2,"opts":{"rooms":["r"]}}`, Limits{}, ErrMalformed},
		{`{"type":2,"opts":true,"rooms":[]}`, Limits{}, ErrMalformed},
		{`{"type":2,"opts":{"rooms":"r"},"rooms":[]}`, Limits{}, ErrMalformed},
		{`{"type":2,"opts":{"rooms":[true]},"rooms":[]}`, Limits{}, ErrMalformed},
		{`{"type":2,"requestId":"a","sid":"s"}`, Limits{}, ErrMalformed},
		{`{"type":4,"opts":{},"close":"yes"}`, Limits{}, ErrMalformed},
		{`{"type":5,"requestId":"a"}`, Limits{}, ErrMalformed},
		{`{"type":6}`, Limits{}, ErrMalformed},
		{`{"type":6,"data":[]}`, Limits{}, ErrMalformed},
		{`{"type":6,"data":{}}`, Limits{}, ErrMalformed},
		{`{"type":1,"requestId":"abcdef"}`, Limits{MaxSize: 10}, ErrTooLarge},
		{"\x81\xa4type\x02", Limits{}, ErrUnknownRequestType},                                            // msgpack is for type 7 only
		{"\x84\xa4type\x07\xa9requestId\xa1a\xa6packet\x80\xa4opts\x80", Limits{}, ErrUnsupportedPacket}, // packet without type/data
		{"\x82\xa4type\x07\xa9requestId\xa1a", Limits{}, ErrMalformed},
	}
	for _, tc := range tests {
		_, err := DecodeRequest([]byte(tc.wire), tc.lim)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%q: %v", tc.wire, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%q: err = %v, want %v", tc.wire, err, tc.want)
		}
	}
}

const fetchResponse = `{"requestId":"m-a7UN","sockets":[{"id":"N_0mBjMZXaKKceOJAAAA","handshake":{` +
	`"headers":{"host":"127.0.0.1:3000","connection":"Upgrade","cookie":["a=1","b=2"]},` +
	`"time":"Sun Nov 29 2026 10:00:00 GMT+0000 (Coordinated Universal Time)","address":"::ffff:127.0.0.1",` +
	`"xdomain":false,"secure":false,"issued":1796032800000,"url":"/socket.io/?EIO=4&transport=websocket",` +
	`"query":{"EIO":"4","transport":"websocket"},"auth":{"token":"x"}},"rooms":["N_0mBjMZXaKKceOJAAAA","room1"],` +
	`"data":{"user":42}}]}`

// responseCaptures are responses as Node publishes them; each encodes back to the same
// bytes. pending is the type of the request the receiver sent.
var responseCaptures = []struct {
	name    string
	wire    string
	hex     bool
	pending RequestType
	want    Response
}{
	{"sockets", `{"requestId":"r","sockets":["a","b"]}`, false, TypeSockets,
		&SocketsResponse{RequestID: "r", Sockets: []string{"a", "b"}}},
	{"allRooms", `{"requestId":"Bu7C57","rooms":["N_0mBjMZXaKKceOJAAAA","room1"]}`, false, TypeAllRooms,
		&AllRoomsResponse{RequestID: "Bu7C57", Rooms: []string{"N_0mBjMZXaKKceOJAAAA", "room1"}}},
	{"legacy join done", `{"requestId":"r1"}`, false, TypeRemoteJoin, &RemoteDoneResponse{RequestID: "r1", Of: TypeRemoteJoin}},
	{"fetchSockets", fetchResponse, false, TypeRemoteFetch,
		&FetchSocketsResponse{RequestID: "m-a7UN", Sockets: []RemoteSocket{{
			ID: "N_0mBjMZXaKKceOJAAAA",
			Handshake: Handshake{
				Headers: json.RawMessage(`{"host":"127.0.0.1:3000","connection":"Upgrade","cookie":["a=1","b=2"]}`),
				Time:    "Sun Nov 29 2026 10:00:00 GMT+0000 (Coordinated Universal Time)",
				Address: "::ffff:127.0.0.1", Issued: 1796032800000, URL: "/socket.io/?EIO=4&transport=websocket",
				Query: json.RawMessage(`{"EIO":"4","transport":"websocket"}`), Auth: json.RawMessage(`{"token":"x"}`),
			},
			Rooms: []string{"N_0mBjMZXaKKceOJAAAA", "room1"},
			Data:  json.RawMessage(`{"user":42}`),
		}}}},
	{"fetchSockets, none", `{"requestId":"r","sockets":[]}`, false, TypeRemoteFetch, &FetchSocketsResponse{RequestID: "r"}},
	{"serverSideEmit ack", `{"type":6,"requestId":"VwIT9c","data":"pong-from-3102"}`, false, -1,
		&ServerSideEmitResponse{RequestID: "VwIT9c", Data: json.RawMessage(`"pong-from-3102"`)}},
	{"serverSideEmit ack of undefined", `{"type":6,"requestId":"VwIT9c"}`, false, -1,
		&ServerSideEmitResponse{RequestID: "VwIT9c"}},
	{"client count", `{"type":8,"requestId":"ZCkgRW","clientCount":1}`, false, -1,
		&BroadcastClientCountResponse{RequestID: "ZCkgRW", ClientCount: 1}},
	{"client ack", "83a47479706509a9726571756573744964a65a436b675257a67061636b6574ad636c69656e742d616e73776572", true, -1,
		&BroadcastAckResponse{RequestID: "ZCkgRW", Packet: jsonArgs(nil, `"client-answer"`)}},
	{"client ack with binary", "83a47479706509a9726571756573744964a65a436b675257a67061636b657482a26f6bc3a362696ec4020a0b", true, -1,
		&BroadcastAckResponse{RequestID: "ZCkgRW", Packet: jsonArgs([][]byte{{10, 11}}, `{"ok":true,"bin":{"_placeholder":true,"num":0}}`)}},
}

func TestDecodeResponse(t *testing.T) {
	for _, tc := range responseCaptures {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.wire)
			if tc.hex {
				b = unhex(t, tc.wire)
			}
			pending := func(id string) (RequestType, bool) { return tc.pending, tc.pending >= 0 }
			got, err := DecodeResponse(b, Limits{}, pending)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decoded %#v\nwant %#v", got, tc.want)
			}
			enc, err := EncodeResponse(tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, b) {
				t.Fatalf("encoded\n%s\nwant\n%s", enc, b)
			}
		})
	}
}

func TestEncodeResponseDefaults(t *testing.T) {
	b, err := EncodeResponse(&FetchSocketsResponse{RequestID: "r", Sockets: []RemoteSocket{{ID: "s"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"requestId":"r","sockets":[{"id":"s","handshake":{"headers":{},"time":"","address":"",` +
		`"xdomain":false,"secure":false,"issued":0,"url":"","query":{},"auth":{}},"rooms":[]}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if _, err := EncodeResponse(&BroadcastAckResponse{RequestID: "r"}); !errors.Is(err, ErrInvalidJSON) {
		t.Errorf("ack without a value: err = %v", err)
	}
	if _, err := EncodeRequest(&ServerSideEmitRequest{}); !errors.Is(err, ErrInvalidJSON) {
		t.Errorf("serverSideEmit without data: err = %v", err)
	}
	if _, err := EncodeRequest(&ServerSideEmitRequest{Data: []json.RawMessage{json.RawMessage(`{`)}}); !errors.Is(err, ErrInvalidJSON) {
		t.Errorf("serverSideEmit with bad JSON: err = %v", err)
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	known := func(id string) (RequestType, bool) { return TypeAllRooms, id == "known" }
	tests := []struct {
		wire    string
		pending func(string) (RequestType, bool)
		want    error
	}{
		{`{"requestId":"other","rooms":[]}`, known, ErrUnknownRequest},
		{`{"requestId":"known","rooms":[]}`, nil, ErrUnknownRequest},
		{`{"rooms":[]}`, known, ErrMalformed},
		{`{"requestId":"known"}`, known, ErrMalformed}, // no rooms
		{`{"requestId":"known","rooms":{}}`, known, ErrMalformed},
		{`{"type":9,"requestId":"a","packet":1}`, known, ErrMalformed}, // BROADCAST_ACK is msgpack
		{`{"type":5,"requestId":"a"}`, known, ErrUnknownRequestType},
		{`{"type":8,"requestId":"a","clientCount":-1}`, known, ErrMalformed},
		{`{"type":8,"requestId":"a"}`, known, ErrMalformed},
		{`{"requestId":"known","sockets":[{"id":1}]}`, func(string) (RequestType, bool) { return TypeRemoteFetch, true }, ErrMalformed},
		{`{"requestId":"known","sockets":[{"id":"a","handshake":{"issued":"x"}}]}`, func(string) (RequestType, bool) { return TypeRemoteFetch, true }, ErrMalformed},
		{`{"requestId":"known"}`, func(string) (RequestType, bool) { return TypeBroadcast, true }, ErrUnknownRequestType},
		{"\x83\xa4type\x08\xa9requestId\xa1a\xa6packet\x01", known, ErrUnknownRequestType},
		{"\x82\xa4type\x09\xa9requestId\xa1a", known, ErrMalformed},
		{"\x83\xa4type\x09\xa9requestId\xa1a\xa6packet\xd4\x00\x00", known, ErrUnsupportedExt},
	}
	for _, tc := range tests {
		if _, err := DecodeResponse([]byte(tc.wire), Limits{}, tc.pending); !errors.Is(err, tc.want) {
			t.Errorf("%q: err = %v, want %v", tc.wire, err, tc.want)
		}
	}
}

func TestRequestTypeString(t *testing.T) {
	if got := TypeBroadcastAck.String(); got != "BROADCAST_ACK" {
		t.Errorf("String = %q", got)
	}
	if got := RequestType(12).String(); got != "RequestType(12)" {
		t.Errorf("String = %q", got)
	}
}

// TestHeraldExtensions round-trips the keys Herald adds for its own peers (countOnly,
// uid), which Node peers ignore, and checks that their absence decodes as before.
func TestHeraldExtensions(t *testing.T) {
	req := &BroadcastRequest{UID: "h1", RequestID: "r1", CountOnly: true,
		Packet: Packet{Nsp: "/", Data: jsonArgs(nil, `"order.shipped"`, `{"id":7}`)},
		Opts:   Options{Rooms: []string{"user:42"}, Except: []string{"x"}}}
	b, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("\xa9countOnly\xc3")) {
		t.Errorf("encoded count-only request has no countOnly:true: %x", b)
	}
	got, err := DecodeRequest(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, req) {
		t.Fatalf("decoded %#v\nwant %#v", got, req)
	}
	req.CountOnly = false
	if b, _ = EncodeRequest(req); bytes.Contains(b, []byte("countOnly")) {
		t.Errorf("a plain BROADCAST request carries countOnly: %x", b)
	}
	if _, err := DecodeRequest(bytes.Replace(mustEncode(t, &BroadcastRequest{UID: "h", RequestID: "r", CountOnly: true,
		Packet: Packet{Nsp: "/", Data: jsonArgs(nil, `"e"`)}}), []byte("\xa9countOnly\xc3"), []byte("\xa9countOnly\x01"), 1), Limits{}); err == nil {
		t.Error("countOnly:1 decoded without error")
	}

	pending := func(string) (RequestType, bool) { return TypeRemoteFetch, true }
	for _, resp := range []Response{
		&BroadcastClientCountResponse{RequestID: "r1", ClientCount: 3, UID: "h2"},
		&FetchSocketsResponse{RequestID: "r2", UID: "h2", Sockets: []RemoteSocket{{ID: "s1", Rooms: []string{"s1"},
			Handshake: Handshake{Headers: json.RawMessage(`{}`), Query: json.RawMessage(`{}`), Auth: json.RawMessage(`{}`)}}}},
	} {
		b, err := EncodeResponse(resp)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(`"uid":"h2"`)) {
			t.Errorf("%T encoded without its uid: %s", resp, b)
		}
		got, err := DecodeResponse(b, Limits{}, pending)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, resp) {
			t.Errorf("decoded %#v\nwant %#v", got, resp)
		}
	}
	for _, bad := range []string{
		`{"type":8,"requestId":"a","clientCount":1,"uid":7}`,
		`{"requestId":"a","sockets":[],"uid":null}`,
	} {
		if _, err := DecodeResponse([]byte(bad), Limits{}, pending); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", bad, err)
		}
	}
}

func mustEncode(t *testing.T, r Request) []byte {
	t.Helper()
	b, err := EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
