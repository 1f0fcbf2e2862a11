package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/socketio"
)

// DemoIssuer is the iss of demo tokens when the node checks no issuer.
const DemoIssuer = "herald-demo"

// LoginResponse is the answer of POST /demo/login.
type LoginResponse struct {
	Token   string    `json:"token"`
	User    string    `json:"user"`
	Expires time.Time `json:"expires"`
	// Demo is always true: the token comes from the demo login, not a real one.
	Demo bool `json:"demo"`
}

// NotifyResponse is the 202 answer of POST /demo/notify.
type NotifyResponse struct {
	To string `json:"to"`
}

// loginOff is the answer of the demo endpoints when the demo login is off.
const loginOff = "demo login is off on this node (it verifies tokens from a real key source, or it was not given a demo key)"

// login mints and checks demo tokens.
type login struct {
	key              []byte
	claim            string // the node's user claim
	issuer, audience string
	ttl              time.Duration
	auth             *auth.Authenticator
}

// newLogin prepares the demo login and checks that the node accepts its tokens.
func newLogin(node *herald.Node, cfg Config) (*login, error) {
	a := node.Auth()
	if a == nil {
		return nil, errors.New("chat: DemoKey is set but the node verifies no JWT: set herald.Config.Auth.JWT.Secret to the same key")
	}
	j := node.Config().Auth.JWT
	l := &login{key: cfg.DemoKey, claim: j.UserClaim, issuer: j.Issuer, audience: j.Audience, ttl: cfg.TokenTTL, auth: a}
	if l.claim == "" {
		l.claim = "sub"
	}
	if l.issuer == "" {
		l.issuer = DemoIssuer
	}
	const probe = "herald-demo-check"
	tok, _, err := l.mint(probe, time.Now())
	if err != nil {
		return nil, err
	}
	if user, err := l.verify(context.Background(), tok); err != nil || user != probe {
		return nil, fmt.Errorf("chat: the node does not accept demo tokens (herald.Config.Auth.JWT.Secret must be the DemoKey): %v", err)
	}
	return l, nil
}

// mint issues a demo token for user.
func (l *login) mint(user string, now time.Time) (string, time.Time, error) {
	exp := now.Add(l.ttl).Truncate(time.Second)
	claims := jwt.MapClaims{
		l.claim: user,
		"iss":   l.issuer,
		"iat":   now.Unix(),
		"exp":   exp.Unix(),
		"demo":  true,
	}
	if l.audience != "" {
		claims["aud"] = l.audience
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(l.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("chat: signing a demo token: %w", err)
	}
	return tok, exp, nil
}

// verify checks a token the way the node checks a socket's, and returns its user.
func (l *login) verify(ctx context.Context, token string) (string, error) {
	payload, err := json.Marshal(map[string]string{"token": token})
	if err != nil {
		return "", err
	}
	id, err := l.auth.Identify(ctx, &socketio.Handshake{Auth: payload})
	if err != nil {
		return "", err
	}
	return id.User, nil
}

// serveLogin handles POST /demo/login {"user"}.
func (c *Chat) serveLogin(w http.ResponseWriter, r *http.Request) {
	if c.login == nil {
		writeError(w, http.StatusNotFound, loginOff)
		return
	}
	fields, err := readObject(w, r, 4<<10, "{user}")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	user, err := idField(fields, "user")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	tok, exp, err := c.login.mint(user, time.Now())
	if err != nil {
		c.log.Error("chat: demo login", "err", err.Error())
		writeError(w, http.StatusInternalServerError, "could not issue a token")
		return
	}
	c.log.Info("chat: demo login", "user", user)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, LoginResponse{Token: tok, User: user, Expires: exp.UTC(), Demo: true})
}

// serveNotify handles POST /demo/notify {"to", "text"} from a signed-in caller
// (Authorization: Bearer <demo token>): a notification event to every socket of user
// "to" on every node, through the same broadcast path as the HTTP API's emit.
func (c *Chat) serveNotify(w http.ResponseWriter, r *http.Request) {
	if c.login == nil {
		writeError(w, http.StatusNotFound, loginOff)
		return
	}
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") || strings.TrimSpace(h[7:]) == "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeError(w, http.StatusUnauthorized, "sign in first: send Authorization: Bearer <token from POST /demo/login>")
		return
	}
	from, err := c.login.verify(r.Context(), strings.TrimSpace(h[7:]))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid or expired token: sign in again")
		return
	}
	fields, err := readObject(w, r, int64(c.cfg.MaxText)*4+1<<10, "{to, text}")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	to, err := idField(fields, "to")
	var text string
	if err == nil {
		text, err = stringField(fields, "text", c.cfg.MaxText)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	n := Notification{From: from, Text: text, At: time.Now().UTC().Truncate(time.Millisecond)}
	local, err := c.login.auth.ToUsers(c.nsp, to).EmitCount(EventNotification, n)
	if err != nil {
		c.log.Error("chat: demo notification", "from", from, "to", to, "err", err.Error())
		writeError(w, http.StatusInternalServerError, "not sent: server error")
		return
	}
	c.log.Info("chat: demo notification", "from", from, "to", to, "local", local)
	writeJSON(w, http.StatusAccepted, NotifyResponse{To: to})
}

// readObject reads a JSON object request body of at most limit bytes.
func readObject(w http.ResponseWriter, r *http.Request, limit int64, want string) (map[string]json.RawMessage, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fmt.Errorf("body: larger than %d bytes", limit)
		}
		return nil, fmt.Errorf("body: %v", err)
	}
	return objectJSON(body, "body", want)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
