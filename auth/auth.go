// Package auth identifies sockets and turns identities into audiences.
//
// An Authenticator finds a credential in the handshake, in a documented order, and
// verifies it:
//
//  1. the Socket.IO CONNECT auth payload {"token": "..."} (Socket.IO clients only);
//  2. the query parameter "token";
//  3. the header "Authorization: Bearer <token>";
//  4. the cookie named Config.TokenCookie ("token");
//  5. an Express session cookie (Config.Session), looked up in Redis.
//
// Tokens are JWTs (JWTConfig). The first credential found decides: a present but
// invalid token refuses the connection even when anonymous sockets are allowed, so a
// client learns that its token is bad instead of silently becoming anonymous. A session
// cookie that is badly signed or names no live session makes the socket anonymous, as
// Express itself treats it.
//
// Audiences are rooms: an authenticated socket joins "user:<id>" and "authenticated"
// (names configurable) when it connects, so "send to user 42", "to everyone logged
// in" and "to everyone" are plain room broadcasts, on every node through the cluster
// bus, and reachable from Node with @socket.io/redis-emitter (io.to("user:42")).
//
// An Authenticator is safe for concurrent use.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/heraldhq/herald/socketio"
)

// Defaults.
const (
	DefaultTokenCookie       = "token"
	DefaultUserRoomPrefix    = "user:"
	DefaultAuthenticatedRoom = "authenticated"
	// PlainRefusal is the close reason a refused plain WebSocket gets (code 4403).
	PlainRefusal = "set JWT cookie to authenticate"
	// Refusal is the connect_error message a refused Socket.IO client gets.
	Refusal = "unauthorized"
)

// Errors. ErrNoCredentials means anonymous; the others mean a credential was present
// and did not hold.
var (
	ErrNoCredentials = errors.New("auth: no credentials")
	ErrInvalidToken  = errors.New("auth: invalid token")
)

// Config configures an Authenticator. The zero value accepts nobody but anonymous
// sockets (no key source).
type Config struct {
	JWT JWTConfig
	// Session, when set, identifies sockets by an Express session cookie.
	Session *SessionStore
	// TokenCookie is the cookie a token may come in. Empty means "token".
	TokenCookie string
	// UserRoomPrefix and AuthenticatedRoom name the audience rooms. Empty means
	// "user:" and "authenticated".
	UserRoomPrefix, AuthenticatedRoom string
	// DisconnectOnExpiry disconnects a socket when its token's exp passes, with reason
	// ReasonTokenExpired (its client sees "io server disconnect" and must get a new
	// token). Off by default: a token is checked once, at connection.
	DisconnectOnExpiry bool
	// Logger; nil discards.
	Logger *slog.Logger
}

// ReasonTokenExpired is the disconnect reason of DisconnectOnExpiry.
const ReasonTokenExpired = "token expired"

// Identity is who a socket is.
type Identity struct {
	User string
	// Source is "jwt" or "session".
	Source string
	// Claims are the JWT's claims (nil for a session).
	Claims map[string]any
	// Expires is the token's exp, zero when it has none.
	Expires time.Time
}

// Authenticator verifies credentials.
type Authenticator struct {
	cfg Config
	jwt *verifier
	log *slog.Logger
}

// New builds an Authenticator. Close it to stop a JWKS refresher.
func New(cfg Config) (*Authenticator, error) {
	if cfg.TokenCookie == "" {
		cfg.TokenCookie = DefaultTokenCookie
	}
	if cfg.UserRoomPrefix == "" {
		cfg.UserRoomPrefix = DefaultUserRoomPrefix
	}
	if cfg.AuthenticatedRoom == "" {
		cfg.AuthenticatedRoom = DefaultAuthenticatedRoom
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Authenticator{cfg: cfg, log: cfg.Logger}
	if cfg.JWT.configured() {
		v, err := newVerifier(cfg.JWT, cfg.Logger)
		if err != nil {
			return nil, err
		}
		a.jwt = v
	}
	return a, nil
}

// Close stops background work (the JWKS refresh).
func (a *Authenticator) Close() { a.jwt.close() }

// Enabled reports whether any credential can be verified.
func (a *Authenticator) Enabled() bool { return a.jwt != nil || a.cfg.Session != nil }

// Identify finds and verifies the socket's credential (see the package doc for the
// order). It returns ErrNoCredentials for an anonymous socket.
func (a *Authenticator) Identify(ctx context.Context, hs *socketio.Handshake) (*Identity, error) {
	if tok := Token(hs, a.cfg.TokenCookie); tok != "" {
		if a.jwt == nil {
			return nil, fmt.Errorf("%w: tokens are not accepted here (no JWT key configured)", ErrInvalidToken)
		}
		user, claims, exp, err := a.jwt.verify(tok)
		if err != nil {
			return nil, err
		}
		return &Identity{User: user, Source: "jwt", Claims: claims, Expires: exp}, nil
	}
	if a.cfg.Session != nil && hs.Handshake != nil {
		user, err := a.cfg.Session.User(ctx, hs.HeaderValue("Cookie"))
		switch {
		case errors.Is(err, ErrNoSessionCookie):
			return nil, ErrNoCredentials
		case errors.Is(err, ErrBadSignature), errors.Is(err, ErrNoSession), errors.Is(err, ErrNoUser), errors.Is(err, ErrBadSession):
			// A stale or forged session cookie means "not authenticated": the socket is
			// anonymous (refused only where the policy requires a user).
			return nil, fmt.Errorf("%w: %w", ErrNoCredentials, err)
		case err != nil:
			return nil, err // Redis unreachable: the session cannot be checked
		}
		return &Identity{User: user, Source: "session"}, nil
	}
	return nil, ErrNoCredentials
}

// Token extracts a bearer token from a handshake, in the package's order: CONNECT
// auth {"token"}, query "token", "Authorization: Bearer", then the cookie named
// cookie. It returns "" when there is none.
func Token(hs *socketio.Handshake, cookie string) string {
	if len(hs.Auth) > 0 {
		var p struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(hs.Auth, &p) == nil && p.Token != "" {
			return p.Token
		}
	}
	if hs.Handshake == nil {
		return ""
	}
	if t := hs.Query().Get("token"); t != "" {
		return t
	}
	if h := hs.HeaderValue("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	if cookie != "" {
		r := http.Request{Header: http.Header{"Cookie": hs.HeaderValues("Cookie")}}
		if c, err := r.Cookie(cookie); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// Policy is a namespace's admission rule.
type Policy struct {
	// AllowAnonymous admits sockets without credentials (they join no audience room).
	AllowAnonymous bool
}

// Middleware identifies each connecting socket, records the identity
// (Socket.User, Socket.Identity) and joins its audience rooms; it refuses a socket
// with a bad credential, and an anonymous one unless the policy allows it. Socket.IO
// clients see connect_error "unauthorized" with data {"reason": ...}; plain WebSocket
// clients are closed with 4403 "set JWT cookie to authenticate".
func (a *Authenticator) Middleware(p Policy) socketio.Middleware {
	return func(s *socketio.Socket) error {
		id, err := a.Identify(context.Background(), s.Handshake())
		switch {
		case err == nil:
			s.SetUser(id.User, id)
			s.Join(a.UserRoom(id.User), a.cfg.AuthenticatedRoom)
			if a.cfg.DisconnectOnExpiry && !id.Expires.IsZero() {
				t := time.AfterFunc(time.Until(id.Expires), func() { s.DisconnectWithReason(ReasonTokenExpired) })
				s.OnDisconnect(func(*socketio.Socket, string) { t.Stop() })
			}
			return nil
		case errors.Is(err, ErrNoCredentials) && p.AllowAnonymous:
			return nil
		}
		reason := "no credentials"
		if !errors.Is(err, ErrNoCredentials) {
			reason = "invalid credentials"
			a.log.Info("auth: connection refused", "nsp", s.Namespace().Name(), "remote", remote(s), "err", err.Error())
		}
		if s.Plain() {
			return &socketio.ConnectError{Message: PlainRefusal}
		}
		return &socketio.ConnectError{Message: Refusal, Data: map[string]string{"reason": reason}}
	}
}

func remote(s *socketio.Socket) string {
	if hs := s.Handshake(); hs != nil && hs.Handshake != nil {
		return hs.RemoteAddr
	}
	return ""
}

// UserRoom returns the room of a user's sockets.
func (a *Authenticator) UserRoom(user string) string { return a.cfg.UserRoomPrefix + user }

// AuthenticatedRoom returns the room of every authenticated socket.
func (a *Authenticator) AuthenticatedRoom() string { return a.cfg.AuthenticatedRoom }

// ToUsers starts a broadcast to every socket of the users, on every node.
func (a *Authenticator) ToUsers(n *socketio.Namespace, users ...string) socketio.BroadcastOperator {
	rooms := make([]string, len(users))
	for i, u := range users {
		rooms[i] = a.UserRoom(u)
	}
	return n.To(rooms...)
}

// ToAuthenticated starts a broadcast to every authenticated socket, on every node.
func (a *Authenticator) ToAuthenticated(n *socketio.Namespace) socketio.BroadcastOperator {
	return n.To(a.cfg.AuthenticatedRoom)
}

// ToOtherTabs starts a broadcast to the other sockets of s's user (its other tabs and
// devices, on every node), not s itself. For an anonymous socket it selects nobody.
func (a *Authenticator) ToOtherTabs(s *socketio.Socket) socketio.BroadcastOperator {
	u := s.User()
	if u == "" {
		return s.Namespace().To(s.ID()).Except(s.ID()) // empty audience
	}
	return s.Namespace().To(a.UserRoom(u)).Except(s.ID())
}

// RequireUser is a namespace middleware that refuses anonymous sockets; put it after
// an Authenticator's middleware (a server-wide one runs first) to make a namespace
// stricter than the server's policy.
func RequireUser(s *socketio.Socket) error {
	if s.User() != "" {
		return nil
	}
	if s.Plain() {
		return &socketio.ConnectError{Message: PlainRefusal}
	}
	return &socketio.ConnectError{Message: Refusal, Data: map[string]string{"reason": "no credentials"}}
}

// PropagateReplies wraps an event handler so that its reply (Event.Ack) also reaches
// the calling user's other sockets, on every node, as an event of the same name — the
// origin gets the reply once, as its ack (Socket.IO) or {"event","data"} reply (plain
// WebSocket). Anonymous callers' replies go to the caller only.
func (a *Authenticator) PropagateReplies(h socketio.EventHandler) socketio.EventHandler {
	return func(s *socketio.Socket, ev *socketio.Event) {
		if s.User() != "" {
			ev.MirrorAck(a.ToOtherTabs(s))
		}
		h(s, ev)
	}
}
