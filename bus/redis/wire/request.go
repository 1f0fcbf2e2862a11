package wire

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// RequestType is the type of a request between nodes and of some responses (the
// RequestType enum in lib/index.ts).
type RequestType int

// Request types, numbered as in lib/index.ts.
const (
	TypeSockets              RequestType = iota // SOCKETS: socket ids in rooms (adapter ≤ 7 only)
	TypeAllRooms                                // ALL_ROOMS
	TypeRemoteJoin                              // REMOTE_JOIN: socketsJoin, or legacy single-socket join
	TypeRemoteLeave                             // REMOTE_LEAVE
	TypeRemoteDisconnect                        // REMOTE_DISCONNECT
	TypeRemoteFetch                             // REMOTE_FETCH: fetchSockets
	TypeServerSideEmit                          // SERVER_SIDE_EMIT
	TypeBroadcast                               // BROADCAST: a broadcast with acknowledgements
	TypeBroadcastClientCount                    // BROADCAST_CLIENT_COUNT (response only)
	TypeBroadcastAck                            // BROADCAST_ACK (response only)
)

var requestTypeNames = [...]string{
	"SOCKETS", "ALL_ROOMS", "REMOTE_JOIN", "REMOTE_LEAVE", "REMOTE_DISCONNECT",
	"REMOTE_FETCH", "SERVER_SIDE_EMIT", "BROADCAST", "BROADCAST_CLIENT_COUNT", "BROADCAST_ACK",
}

// String returns the name lib/index.ts gives the type.
func (t RequestType) String() string {
	if t >= 0 && int(t) < len(requestTypeNames) {
		return requestTypeNames[t]
	}
	return "RequestType(" + strconv.Itoa(int(t)) + ")"
}

// Selector picks sockets: those in any of Rooms (every socket when Rooms is empty) and
// in none of Except. It is the {rooms, except} "opts" of requests.
type Selector struct {
	Rooms  []string
	Except []string
}

// Request is a message on the request channel: one of the *Request types of this
// package. Every request but BroadcastRequest travels as JSON; BroadcastRequest is
// msgpack, since its packet may hold binary (lib/index.ts broadcastWithAck).
type Request interface {
	// Type returns the request's type.
	Type() RequestType
	// ID returns the request's requestId, "" for the types that carry none (the
	// selector forms of join, leave and disconnect, and a server-side emit without ack).
	ID() string
	encode() ([]byte, error)
}

// Response is a message on a response channel: one of the *Response types of this
// package. Every response but BroadcastAckResponse travels as JSON.
type Response interface {
	// Type returns the type of the request answered, or TypeBroadcastClientCount or
	// TypeBroadcastAck.
	Type() RequestType
	// ID returns the requestId of the request answered.
	ID() string
	encode() ([]byte, error)
}

// SocketsRequest (type 0) asks every node for the ids of its sockets in Rooms. Only
// adapters up to v7 send it; v8 still answers it.
type SocketsRequest struct {
	UID       string
	RequestID string
	Rooms     []string
}

// AllRoomsRequest (type 1) asks every node for its rooms (Adapter.allRooms). Each node
// answers with an AllRoomsResponse.
type AllRoomsRequest struct {
	UID       string
	RequestID string
}

// SocketsJoinRequest (type 2, "opts" form) makes the selected sockets join Rooms
// (socketsJoin). Every node applies it, the sender too, and none answers. The emitter
// sends it without UID.
type SocketsJoinRequest struct {
	UID   string
	Opts  Selector
	Rooms []string
}

// SocketsLeaveRequest (type 3, "opts" form) makes the selected sockets leave Rooms.
type SocketsLeaveRequest struct {
	UID   string
	Opts  Selector
	Rooms []string
}

// DisconnectSocketsRequest (type 4, "opts" form) disconnects the selected sockets;
// Close also closes their connections.
type DisconnectSocketsRequest struct {
	UID   string
	Opts  Selector
	Close bool
}

// RemoteJoinRequest (type 2, legacy form of adapters up to v7: no "opts") makes socket
// SID join Room. The node holding SID answers with a RemoteDoneResponse.
type RemoteJoinRequest struct {
	UID       string
	RequestID string
	SID       string
	Room      string
}

// RemoteLeaveRequest (type 3, legacy form) makes socket SID leave Room.
type RemoteLeaveRequest struct {
	UID       string
	RequestID string
	SID       string
	Room      string
}

// RemoteDisconnectRequest (type 4, legacy form) disconnects socket SID.
type RemoteDisconnectRequest struct {
	UID       string
	RequestID string
	SID       string
	Close     bool
}

// FetchSocketsRequest (type 5) asks every node for its selected sockets
// (fetchSockets). Each node answers with a FetchSocketsResponse.
type FetchSocketsRequest struct {
	UID       string
	RequestID string
	Opts      Selector
}

// ServerSideEmitRequest (type 6) delivers Data, [event, ...args], to the
// io.on(event) handlers of every other node. With a RequestID the sender waits for one
// ServerSideEmitResponse per node. The emitter sends it with UID "emitter" and no
// RequestID.
type ServerSideEmitRequest struct {
	UID       string
	RequestID string // "" when no acknowledgement is wanted
	Data      []json.RawMessage
}

// BroadcastRequest (type 7, msgpack) is a broadcast whose sender waits for client
// acknowledgements (emitWithAck). Every other node answers with one
// BroadcastClientCountResponse, even for zero clients, then one BroadcastAckResponse
// per client ack. Opts.Flags.Timeout is the sender's timeout.
//
// CountOnly is Herald's extension (key "countOnly", absent when false): the sender
// wants each node's delivery count, not client acks. Herald nodes then deliver a
// plain event (no ack id) and answer with the count alone; Node peers ignore the key
// and answer as for any BROADCAST (their clients see an ack id they need not use).
type BroadcastRequest struct {
	UID       string
	RequestID string
	Packet    Packet
	Opts      Options
	CountOnly bool
}

func (*SocketsRequest) Type() RequestType           { return TypeSockets }
func (*AllRoomsRequest) Type() RequestType          { return TypeAllRooms }
func (*SocketsJoinRequest) Type() RequestType       { return TypeRemoteJoin }
func (*SocketsLeaveRequest) Type() RequestType      { return TypeRemoteLeave }
func (*DisconnectSocketsRequest) Type() RequestType { return TypeRemoteDisconnect }
func (*RemoteJoinRequest) Type() RequestType        { return TypeRemoteJoin }
func (*RemoteLeaveRequest) Type() RequestType       { return TypeRemoteLeave }
func (*RemoteDisconnectRequest) Type() RequestType  { return TypeRemoteDisconnect }
func (*FetchSocketsRequest) Type() RequestType      { return TypeRemoteFetch }
func (*ServerSideEmitRequest) Type() RequestType    { return TypeServerSideEmit }
func (*BroadcastRequest) Type() RequestType         { return TypeBroadcast }

// SocketsResponse answers a SocketsRequest with socket ids.
type SocketsResponse struct {
	RequestID string
	Sockets   []string
}

// AllRoomsResponse answers an AllRoomsRequest with the node's rooms, socket-id rooms
// included.
type AllRoomsResponse struct {
	RequestID string
	Rooms     []string
}

// RemoteDoneResponse answers a legacy RemoteJoin, RemoteLeave or RemoteDisconnect
// request: {"requestId"}. The JSON does not say which; Of is the type of the request
// the receiver had sent.
type RemoteDoneResponse struct {
	RequestID string
	Of        RequestType
}

// FetchSocketsResponse answers a FetchSocketsRequest with the node's selected sockets.
// UID is Herald's extension (key "uid", absent when empty): the answering node, so the
// requester can say where the sockets are. Node peers send none.
type FetchSocketsResponse struct {
	RequestID string
	Sockets   []RemoteSocket
	UID       string
}

// RemoteSocket describes a socket on another node, as RemoteSocket in socket.io and
// the REMOTE_FETCH branch of onrequest build it.
type RemoteSocket struct {
	ID        string
	Handshake Handshake
	Rooms     []string
	Data      json.RawMessage // socket.data; nil when absent
}

// Handshake is socket.handshake (socket.io lib/socket.ts buildHandshake), without the
// sessionStore the adapter strips.
type Handshake struct {
	// Headers, Query and Auth are JSON objects: header name to a string or an array of
	// strings, query parameter to the same, and the CONNECT packet's auth payload. The
	// decoder gives {} for an absent one; the encoder writes {} for nil.
	Headers json.RawMessage
	Time    string // new Date().toString() at the handshake
	Address string // remote address
	XDomain bool   // cross-origin request
	Secure  bool   // over TLS
	Issued  int64  // handshake time, milliseconds since the epoch
	URL     string // request URL
	Query   json.RawMessage
	Auth    json.RawMessage
}

// ServerSideEmitResponse answers a ServerSideEmitRequest with the handler's single
// acknowledgement argument. It is always published on the shared response channel.
type ServerSideEmitResponse struct {
	RequestID string
	Data      json.RawMessage // nil when the handler acknowledged with undefined
}

// BroadcastClientCountResponse (type 8) tells the sender of a BroadcastRequest how many
// client acknowledgements to expect from this node. UID is Herald's extension (key
// "uid", absent when empty): the answering node. Node peers send none.
type BroadcastClientCountResponse struct {
	RequestID   string
	ClientCount int
	UID         string
}

// BroadcastAckResponse (type 9, msgpack) carries one client's acknowledgement of a
// BroadcastRequest. Packet holds exactly one value: the client's first ack argument.
type BroadcastAckResponse struct {
	RequestID string
	Packet    Args
}

func (*SocketsResponse) Type() RequestType              { return TypeSockets }
func (*AllRoomsResponse) Type() RequestType             { return TypeAllRooms }
func (r *RemoteDoneResponse) Type() RequestType         { return r.Of }
func (*FetchSocketsResponse) Type() RequestType         { return TypeRemoteFetch }
func (*ServerSideEmitResponse) Type() RequestType       { return TypeServerSideEmit }
func (*BroadcastClientCountResponse) Type() RequestType { return TypeBroadcastClientCount }
func (*BroadcastAckResponse) Type() RequestType         { return TypeBroadcastAck }

func (r *SocketsRequest) ID() string               { return r.RequestID }
func (r *AllRoomsRequest) ID() string              { return r.RequestID }
func (r *RemoteJoinRequest) ID() string            { return r.RequestID }
func (r *RemoteLeaveRequest) ID() string           { return r.RequestID }
func (r *RemoteDisconnectRequest) ID() string      { return r.RequestID }
func (r *FetchSocketsRequest) ID() string          { return r.RequestID }
func (r *ServerSideEmitRequest) ID() string        { return r.RequestID }
func (r *BroadcastRequest) ID() string             { return r.RequestID }
func (r *SocketsResponse) ID() string              { return r.RequestID }
func (r *AllRoomsResponse) ID() string             { return r.RequestID }
func (r *RemoteDoneResponse) ID() string           { return r.RequestID }
func (r *FetchSocketsResponse) ID() string         { return r.RequestID }
func (r *ServerSideEmitResponse) ID() string       { return r.RequestID }
func (r *BroadcastClientCountResponse) ID() string { return r.RequestID }
func (r *BroadcastAckResponse) ID() string         { return r.RequestID }
func (*SocketsJoinRequest) ID() string             { return "" }
func (*SocketsLeaveRequest) ID() string            { return "" }
func (*DisconnectSocketsRequest) ID() string       { return "" }

// EncodeRequest returns the bytes to publish on the request channel: JSON as
// JSON.stringify writes it (keys in the adapter's order), or msgpack for a
// BroadcastRequest.
func EncodeRequest(r Request) ([]byte, error) { return r.encode() }

// EncodeResponse returns the bytes to publish on a response channel: JSON, or msgpack
// for a BroadcastAckResponse.
func EncodeResponse(r Response) ([]byte, error) { return r.encode() }

// DecodeRequest decodes a message from the request channel. As the adapter's onrequest
// does, a first byte '{' means JSON and anything else msgpack; msgpack is accepted only
// for type 7 and type 7 only as msgpack. Requests without uid (the emitter's join,
// leave and disconnect) are accepted. Raw JSON values (ServerSideEmitRequest.Data) are
// compacted.
func DecodeRequest(b []byte, lim Limits) (Request, error) {
	lim = lim.normalized()
	if len(b) > lim.MaxSize {
		return nil, fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, len(b), lim.MaxSize)
	}
	var req Request
	var err error
	if len(b) > 0 && b[0] == '{' {
		req, err = decodeJSONRequest(b)
	} else {
		req, err = decodeBroadcastRequest(b, &lim)
	}
	if err != nil {
		return nil, wrapInput(err, b)
	}
	return req, nil
}

// DecodeResponse decodes a message from a response channel. '{' first means JSON, else
// msgpack (only a BroadcastAckResponse). Responses to types 0–5 do not carry their
// type: as the adapter's onresponse does, the decoder looks the request up by its
// requestId with pending, which returns the type of a request this node sent and still
// waits on; an id pending does not know gives ErrUnknownRequest (the adapter ignores
// those). Responses with a type (6, 8, 9) need no look-up. Raw JSON values are
// compacted.
func DecodeResponse(b []byte, lim Limits, pending func(requestID string) (RequestType, bool)) (Response, error) {
	lim = lim.normalized()
	if len(b) > lim.MaxSize {
		return nil, fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, len(b), lim.MaxSize)
	}
	var resp Response
	var err error
	if len(b) > 0 && b[0] == '{' {
		resp, err = decodeJSONResponse(b, pending)
	} else {
		resp, err = decodeBroadcastAck(b, &lim)
	}
	if err != nil {
		return nil, wrapInput(err, b)
	}
	return resp, nil
}

func decodeJSONRequest(b []byte) (Request, error) {
	o, err := parseObject(b)
	if err != nil {
		return nil, err
	}
	typ, err := o.requestType()
	if err != nil {
		return nil, err
	}
	uid, err := o.str("uid", false)
	if err != nil {
		return nil, err
	}
	switch typ {
	case TypeSockets:
		r := &SocketsRequest{UID: uid}
		if r.RequestID, err = o.str("requestId", true); err == nil {
			r.Rooms, err = o.rooms("rooms", false)
		}
		return r, err
	case TypeAllRooms:
		r := &AllRoomsRequest{UID: uid}
		r.RequestID, err = o.str("requestId", true)
		return r, err
	case TypeRemoteJoin, TypeRemoteLeave, TypeRemoteDisconnect:
		if o.truthy("opts") {
			return o.selectorRequest(typ, uid)
		}
		return o.legacyRequest(typ, uid)
	case TypeRemoteFetch:
		r := &FetchSocketsRequest{UID: uid}
		if r.RequestID, err = o.str("requestId", true); err == nil {
			r.Opts, err = o.selector("opts", true)
		}
		return r, err
	case TypeServerSideEmit:
		r := &ServerSideEmitRequest{UID: uid}
		if r.RequestID, err = o.str("requestId", false); err == nil {
			r.Data, err = o.array("data")
		}
		if err == nil && len(r.Data) == 0 {
			err = fmt.Errorf("%w: SERVER_SIDE_EMIT without an event", ErrMalformed)
		}
		return r, err
	case TypeBroadcast:
		return nil, fmt.Errorf("%w: a BROADCAST request is msgpack, not JSON", ErrMalformed)
	}
	return nil, fmt.Errorf("%w: %d", ErrUnknownRequestType, typ)
}

// selectorRequest decodes the "opts" form of types 2, 3 and 4.
func (o jsonObject) selectorRequest(typ RequestType, uid string) (Request, error) {
	opts, err := o.selector("opts", true)
	if err != nil {
		return nil, err
	}
	switch typ {
	case TypeRemoteJoin:
		r := &SocketsJoinRequest{UID: uid, Opts: opts}
		r.Rooms, err = o.rooms("rooms", true)
		return r, err
	case TypeRemoteLeave:
		r := &SocketsLeaveRequest{UID: uid, Opts: opts}
		r.Rooms, err = o.rooms("rooms", true)
		return r, err
	}
	r := &DisconnectSocketsRequest{UID: uid, Opts: opts}
	r.Close, err = o.boolean("close")
	return r, err
}

// legacyRequest decodes the sid form of types 2, 3 and 4.
func (o jsonObject) legacyRequest(typ RequestType, uid string) (Request, error) {
	id, err := o.str("requestId", true)
	if err != nil {
		return nil, err
	}
	sid, err := o.str("sid", true)
	if err != nil {
		return nil, err
	}
	if typ == TypeRemoteDisconnect {
		r := &RemoteDisconnectRequest{UID: uid, RequestID: id, SID: sid}
		r.Close, err = o.boolean("close")
		return r, err
	}
	room, err := o.room("room")
	if err != nil {
		return nil, err
	}
	if typ == TypeRemoteJoin {
		return &RemoteJoinRequest{UID: uid, RequestID: id, SID: sid, Room: room}, nil
	}
	return &RemoteLeaveRequest{UID: uid, RequestID: id, SID: sid, Room: room}, nil
}

func decodeBroadcastRequest(b []byte, lim *Limits) (Request, error) {
	r := reader{b: b}
	n, err := r.mapLen()
	if err != nil {
		return nil, err
	}
	req := &BroadcastRequest{}
	var haveType, haveID, havePacket, haveOpts bool
	for range n {
		key, err := r.strBytes()
		if err != nil {
			return nil, err
		}
		switch string(key) {
		case "uid":
			req.UID, err = r.str()
		case "requestId":
			req.RequestID, err = r.str()
			haveID = true
		case "type":
			var t int64
			if t, err = r.integer(); err == nil && t != int64(TypeBroadcast) {
				return nil, fmt.Errorf("%w: msgpack request of type %d, only %d is msgpack", ErrUnknownRequestType, t, TypeBroadcast)
			}
			haveType = true
		case "packet":
			req.Packet, err = r.packet(lim)
			havePacket = true
		case "opts":
			req.Opts, err = r.options(lim)
			haveOpts = true
		case "countOnly":
			req.CountOnly, err = r.boolean()
		default:
			err = r.skip(lim.MaxDepth)
		}
		if err != nil {
			return nil, err
		}
	}
	if !haveType || !haveID || !havePacket || !haveOpts {
		return nil, r.errorf("BROADCAST request without type, requestId, packet or opts")
	}
	if r.left() > 0 {
		return nil, r.errorf("%d trailing bytes", r.left())
	}
	return req, nil
}

func decodeJSONResponse(b []byte, pending func(string) (RequestType, bool)) (Response, error) {
	o, err := parseObject(b)
	if err != nil {
		return nil, err
	}
	id, err := o.str("requestId", true)
	if err != nil {
		return nil, err
	}
	if _, typed := o["type"]; typed {
		typ, err := o.requestType()
		if err != nil {
			return nil, err
		}
		switch typ {
		case TypeServerSideEmit:
			return &ServerSideEmitResponse{RequestID: id, Data: o.raw("data")}, nil
		case TypeBroadcastClientCount:
			n, err := o.integer("clientCount", true)
			if err == nil && n < 0 {
				err = fmt.Errorf("%w: clientCount %d", ErrMalformed, n)
			}
			if err != nil {
				return nil, err
			}
			uid, err := o.str("uid", false)
			return &BroadcastClientCountResponse{RequestID: id, ClientCount: int(n), UID: uid}, err
		case TypeBroadcastAck:
			return nil, fmt.Errorf("%w: a BROADCAST_ACK response is msgpack, not JSON", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: response of type %d", ErrUnknownRequestType, typ)
	}
	var typ RequestType
	ok := false
	if pending != nil {
		typ, ok = pending(id)
	}
	if !ok {
		return nil, fmt.Errorf("%w: requestId %q", ErrUnknownRequest, id)
	}
	switch typ {
	case TypeSockets:
		r := &SocketsResponse{RequestID: id}
		r.Sockets, err = o.rooms("sockets", true)
		return r, err
	case TypeAllRooms:
		r := &AllRoomsResponse{RequestID: id}
		r.Rooms, err = o.rooms("rooms", true)
		return r, err
	case TypeRemoteJoin, TypeRemoteLeave, TypeRemoteDisconnect:
		return &RemoteDoneResponse{RequestID: id, Of: typ}, nil
	case TypeRemoteFetch:
		r := &FetchSocketsResponse{RequestID: id}
		if r.Sockets, err = o.remoteSockets("sockets"); err != nil {
			return nil, err
		}
		r.UID, err = o.str("uid", false)
		return r, err
	case TypeServerSideEmit:
		return &ServerSideEmitResponse{RequestID: id, Data: o.raw("data")}, nil
	}
	return nil, fmt.Errorf("%w: pending request of type %d", ErrUnknownRequestType, typ)
}

func decodeBroadcastAck(b []byte, lim *Limits) (Response, error) {
	r := reader{b: b}
	n, err := r.mapLen()
	if err != nil {
		return nil, err
	}
	resp := &BroadcastAckResponse{}
	var haveType, haveID, havePacket bool
	for range n {
		key, err := r.strBytes()
		if err != nil {
			return nil, err
		}
		switch string(key) {
		case "type":
			var t int64
			if t, err = r.integer(); err == nil && t != int64(TypeBroadcastAck) {
				return nil, fmt.Errorf("%w: msgpack response of type %d, only %d is msgpack", ErrUnknownRequestType, t, TypeBroadcastAck)
			}
			haveType = true
		case "requestId":
			resp.RequestID, err = r.str()
			haveID = true
		case "packet":
			resp.Packet, err = r.value(lim)
			havePacket = true
		default:
			err = r.skip(lim.MaxDepth)
		}
		if err != nil {
			return nil, err
		}
	}
	if !haveType || !haveID || !havePacket {
		return nil, r.errorf("BROADCAST_ACK response without type, requestId or packet")
	}
	if r.left() > 0 {
		return nil, r.errorf("%d trailing bytes", r.left())
	}
	return resp, nil
}

// Encoders. The wire structs list fields in the order the adapter's object literals
// do, so the JSON matches JSON.stringify byte for byte.

type wireSelector struct {
	Rooms  []string `json:"rooms"`
	Except []string `json:"except"`
}

func newWireSelector(s Selector) wireSelector {
	return wireSelector{Rooms: orEmpty(s.Rooms), Except: orEmpty(s.Except)}
}

// orEmpty returns s, or an empty slice for nil so that it encodes as [].
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (r *SocketsRequest) encode() ([]byte, error) {
	return marshalJSON(struct {
		UID       string      `json:"uid,omitempty"`
		RequestID string      `json:"requestId"`
		Type      RequestType `json:"type"`
		Rooms     []string    `json:"rooms"`
	}{r.UID, r.RequestID, r.Type(), orEmpty(r.Rooms)})
}

func (r *AllRoomsRequest) encode() ([]byte, error) {
	return marshalJSON(struct {
		UID       string      `json:"uid,omitempty"`
		RequestID string      `json:"requestId"`
		Type      RequestType `json:"type"`
	}{r.UID, r.RequestID, r.Type()})
}

type wireRoomsRequest struct {
	UID   string       `json:"uid,omitempty"`
	Type  RequestType  `json:"type"`
	Opts  wireSelector `json:"opts"`
	Rooms []string     `json:"rooms"`
}

func (r *SocketsJoinRequest) encode() ([]byte, error) {
	return marshalJSON(wireRoomsRequest{r.UID, r.Type(), newWireSelector(r.Opts), orEmpty(r.Rooms)})
}

func (r *SocketsLeaveRequest) encode() ([]byte, error) {
	return marshalJSON(wireRoomsRequest{r.UID, r.Type(), newWireSelector(r.Opts), orEmpty(r.Rooms)})
}

func (r *DisconnectSocketsRequest) encode() ([]byte, error) {
	return marshalJSON(struct {
		UID   string       `json:"uid,omitempty"`
		Type  RequestType  `json:"type"`
		Opts  wireSelector `json:"opts"`
		Close bool         `json:"close"`
	}{r.UID, r.Type(), newWireSelector(r.Opts), r.Close})
}

type wireLegacyRoomRequest struct {
	UID       string      `json:"uid,omitempty"`
	RequestID string      `json:"requestId"`
	Type      RequestType `json:"type"`
	SID       string      `json:"sid"`
	Room      string      `json:"room"`
}

func (r *RemoteJoinRequest) encode() ([]byte, error) {
	return marshalJSON(wireLegacyRoomRequest{r.UID, r.RequestID, r.Type(), r.SID, r.Room})
}

func (r *RemoteLeaveRequest) encode() ([]byte, error) {
	return marshalJSON(wireLegacyRoomRequest{r.UID, r.RequestID, r.Type(), r.SID, r.Room})
}

func (r *RemoteDisconnectRequest) encode() ([]byte, error) {
	return marshalJSON(struct {
		UID       string      `json:"uid,omitempty"`
		RequestID string      `json:"requestId"`
		Type      RequestType `json:"type"`
		SID       string      `json:"sid"`
		Close     bool        `json:"close"`
	}{r.UID, r.RequestID, r.Type(), r.SID, r.Close})
}

func (r *FetchSocketsRequest) encode() ([]byte, error) {
	return marshalJSON(struct {
		UID       string       `json:"uid,omitempty"`
		RequestID string       `json:"requestId"`
		Type      RequestType  `json:"type"`
		Opts      wireSelector `json:"opts"`
	}{r.UID, r.RequestID, r.Type(), newWireSelector(r.Opts)})
}

func (r *ServerSideEmitRequest) encode() ([]byte, error) {
	if len(r.Data) == 0 {
		return nil, fmt.Errorf("%w: SERVER_SIDE_EMIT without an event", ErrInvalidJSON)
	}
	return marshalJSON(struct {
		UID       string            `json:"uid,omitempty"`
		RequestID string            `json:"requestId,omitempty"`
		Type      RequestType       `json:"type"`
		Data      []json.RawMessage `json:"data"`
	}{r.UID, r.RequestID, r.Type(), r.Data})
}

// wireBroadcastRequest is the msgpack map of a BROADCAST request, keys in
// broadcastWithAck's order: uid, requestId, type, packet, opts.
type wireBroadcastRequest struct {
	UID       string      `msgpack:"uid"`
	RequestID string      `msgpack:"requestId"`
	Type      int         `msgpack:"type"`
	Packet    wirePacket  `msgpack:"packet"`
	Opts      wireOptions `msgpack:"opts"`
	CountOnly bool        `msgpack:"countOnly,omitempty"`
}

func (r *BroadcastRequest) encode() ([]byte, error) {
	return appendMsgpack(nil, &wireBroadcastRequest{
		UID:       r.UID,
		RequestID: r.RequestID,
		Type:      int(TypeBroadcast),
		Packet:    newWirePacket(&r.Packet),
		Opts:      newWireOptions(&r.Opts),
		CountOnly: r.CountOnly,
	})
}

func (r *SocketsResponse) encode() ([]byte, error) {
	return marshalJSON(struct {
		RequestID string   `json:"requestId"`
		Sockets   []string `json:"sockets"`
	}{r.RequestID, orEmpty(r.Sockets)})
}

func (r *AllRoomsResponse) encode() ([]byte, error) {
	return marshalJSON(struct {
		RequestID string   `json:"requestId"`
		Rooms     []string `json:"rooms"`
	}{r.RequestID, orEmpty(r.Rooms)})
}

func (r *RemoteDoneResponse) encode() ([]byte, error) {
	return marshalJSON(struct {
		RequestID string `json:"requestId"`
	}{r.RequestID})
}

type wireRemoteSocket struct {
	ID        string          `json:"id"`
	Handshake wireHandshake   `json:"handshake"`
	Rooms     []string        `json:"rooms"`
	Data      json.RawMessage `json:"data,omitempty"`
}

type wireHandshake struct {
	Headers json.RawMessage `json:"headers"`
	Time    string          `json:"time"`
	Address string          `json:"address"`
	XDomain bool            `json:"xdomain"`
	Secure  bool            `json:"secure"`
	Issued  int64           `json:"issued"`
	URL     string          `json:"url"`
	Query   json.RawMessage `json:"query"`
	Auth    json.RawMessage `json:"auth"`
}

// orEmptyObject returns raw, or {} when it is empty.
func orEmptyObject(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	return raw
}

func (r *FetchSocketsResponse) encode() ([]byte, error) {
	sockets := make([]wireRemoteSocket, len(r.Sockets))
	for i, s := range r.Sockets {
		h := s.Handshake
		sockets[i] = wireRemoteSocket{
			ID: s.ID,
			Handshake: wireHandshake{
				Headers: orEmptyObject(h.Headers), Time: h.Time, Address: h.Address,
				XDomain: h.XDomain, Secure: h.Secure, Issued: h.Issued, URL: h.URL,
				Query: orEmptyObject(h.Query), Auth: orEmptyObject(h.Auth),
			},
			Rooms: orEmpty(s.Rooms),
			Data:  s.Data,
		}
	}
	return marshalJSON(struct {
		RequestID string             `json:"requestId"`
		Sockets   []wireRemoteSocket `json:"sockets"`
		UID       string             `json:"uid,omitempty"`
	}{r.RequestID, sockets, r.UID})
}

func (r *ServerSideEmitResponse) encode() ([]byte, error) {
	return marshalJSON(struct {
		Type      RequestType     `json:"type"`
		RequestID string          `json:"requestId"`
		Data      json.RawMessage `json:"data,omitempty"`
	}{r.Type(), r.RequestID, r.Data})
}

func (r *BroadcastClientCountResponse) encode() ([]byte, error) {
	return marshalJSON(struct {
		Type        RequestType `json:"type"`
		RequestID   string      `json:"requestId"`
		ClientCount int         `json:"clientCount"`
		UID         string      `json:"uid,omitempty"`
	}{r.Type(), r.RequestID, r.ClientCount, r.UID})
}

// wireBroadcastAck is the msgpack map of a BROADCAST_ACK response, keys in the
// adapter's order: type, requestId, packet.
type wireBroadcastAck struct {
	Type      int       `msgpack:"type"`
	RequestID string    `msgpack:"requestId"`
	Packet    wireValue `msgpack:"packet"`
}

func (r *BroadcastAckResponse) encode() ([]byte, error) {
	return appendMsgpack(nil, &wireBroadcastAck{
		Type:      int(TypeBroadcastAck),
		RequestID: r.RequestID,
		Packet:    wireValue{&r.Packet},
	})
}
