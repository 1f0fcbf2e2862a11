package engineio

// Reason says why a session closed. The strings are the ones socket.io reports to Node
// applications where the reason exists there; ReasonSlowConsumer is Herald's own.
type Reason uint8

// Close reasons.
const (
	// ReasonTransportClose: the client closed the connection or sent a close packet.
	ReasonTransportClose Reason = iota + 1
	// ReasonTransportError: a read or write failed, a polling request was malformed or
	// oversized, or the client broke the protocol's state rules.
	ReasonTransportError
	// ReasonPingTimeout: no pong within PingTimeout after a ping.
	ReasonPingTimeout
	// ReasonParseError: a packet could not be decoded.
	ReasonParseError
	// ReasonForcedClose: the application closed the session.
	ReasonForcedClose
	// ReasonServerShutdown: the server is shutting down; clients should reconnect.
	ReasonServerShutdown
	// ReasonSlowConsumer: the session's write queue overflowed (see
	// Config.WriteQueueBytes); the client was not reading fast enough.
	ReasonSlowConsumer
	// ReasonPayloadTooLarge: a message or POST body exceeded Config.MaxPayload.
	ReasonPayloadTooLarge
)

var reasonText = [...]string{
	ReasonTransportClose:  "transport close",
	ReasonTransportError:  "transport error",
	ReasonPingTimeout:     "ping timeout",
	ReasonParseError:      "parse error",
	ReasonForcedClose:     "forced close",
	ReasonServerShutdown:  "server shutting down",
	ReasonSlowConsumer:    "slow consumer",
	ReasonPayloadTooLarge: "payload too large",
}

// String returns the reason as socket.io names it.
func (r Reason) String() string {
	if int(r) < len(reasonText) && reasonText[r] != "" {
		return reasonText[r]
	}
	return "unknown"
}

// Error lets a Reason be returned as an error.
func (r Reason) Error() string { return "engineio: " + r.String() }

// graceful reports whether the server can still write to the peer when closing for r:
// then queued packets are flushed and a close is sent; otherwise the connection is cut.
func (r Reason) graceful() bool {
	switch r {
	case ReasonForcedClose, ReasonServerShutdown, ReasonParseError, ReasonPayloadTooLarge:
		return true
	}
	return false
}

// wsCloseCode is the WebSocket close code sent for a graceful close.
func (r Reason) wsCloseCode() uint16 {
	switch r {
	case ReasonServerShutdown:
		return 1001 // going away
	case ReasonParseError:
		return 1002 // protocol error
	case ReasonPayloadTooLarge:
		return 1009 // message too big
	}
	return 1000
}
