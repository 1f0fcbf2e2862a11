package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldhq/herald/engineio"
	"github.com/heraldhq/herald/socketio"
)

var hsSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(mod func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "42", "iss": "herald-test", "aud": "herald", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	if mod != nil {
		mod(c)
	}
	return c
}

func handshakeWithToken(tok string) *socketio.Handshake {
	return &socketio.Handshake{Handshake: requestHandshake("/socket.io/?EIO=4&token="+tok, nil)}
}

// requestHandshake is the engineio.Handshake of a request for uri (kept verbatim,
// even when it would not parse) carrying header h.
func requestHandshake(uri string, h http.Header) *engineio.Handshake {
	hs := engineio.NewHandshake(&http.Request{URL: &url.URL{Path: "/"}, Header: h})
	hs.URL = uri
	return hs
}

// jwks serves a JWK Set that a test can rotate.
type jwks struct {
	mu   sync.Mutex
	keys []map[string]string
	hits int
}

func (j *jwks) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.hits++
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": j.keys})
}

func (j *jwks) set(keys ...map[string]string) {
	j.mu.Lock()
	j.keys = keys
	j.mu.Unlock()
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(k *rsa.PublicKey, kid string) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(k *ecdsa.PublicKey, kid string) map[string]string {
	size := (k.Curve.Params().BitSize + 7) / 8
	x, y := make([]byte, size), make([]byte, size)
	k.X.FillBytes(x)
	k.Y.FillBytes(y)
	return map[string]string{"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256", "x": b64(x), "y": b64(y)}
}

func TestJWT(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set := &jwks{}
	set.set(rsaJWK(&rsaKey.PublicKey, "rsa-1"), ecJWK(&ecKey.PublicKey, "ec-1"))
	srv := httptest.NewServer(set)
	defer srv.Close()
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	hs, err := New(Config{JWT: JWTConfig{Secret: hsSecret, Issuer: "herald-test", Audience: "herald"}})
	if err != nil {
		t.Fatal(err)
	}
	pk, err := New(Config{JWT: JWTConfig{PublicKeyPEM: pubPEM}})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := New(Config{JWT: JWTConfig{JWKSURL: srv.URL, Issuer: "herald-test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()

	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	tests := []struct {
		name string
		a    *Authenticator
		tok  string
		ok   bool
		want error // wrapped inside ErrInvalidToken
	}{
		{"HS256 valid", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", claims(nil)), true, nil},
		{"HS512 valid", hs, sign(t, jwt.SigningMethodHS512, hsSecret, "", claims(nil)), true, nil},
		{"expired", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), false, jwt.ErrTokenExpired},
		{"not yet valid", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", claims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() })), false, jwt.ErrTokenNotValidYet},
		{"wrong issuer", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", claims(func(c jwt.MapClaims) { c["iss"] = "evil" })), false, jwt.ErrTokenInvalidIssuer},
		{"wrong audience", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", claims(func(c jwt.MapClaims) { c["aud"] = "other" })), false, jwt.ErrTokenInvalidAudience},
		{"bad signature", hs, sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx!!"), "", claims(nil)), false, jwt.ErrTokenSignatureInvalid},
		{"alg none", hs, none, false, jwt.ErrTokenSignatureInvalid},
		{"no user claim", hs, sign(t, jwt.SigningMethodHS256, hsSecret, "", claims(func(c jwt.MapClaims) { delete(c, "sub") })), false, nil},
		{"garbage", hs, "not.a.jwt", false, jwt.ErrTokenMalformed},
		{"RS256 with PEM key", pk, sign(t, jwt.SigningMethodRS256, rsaKey, "", claims(nil)), true, nil},
		{"HS256 signed with the public key bytes (confusion)", pk, sign(t, jwt.SigningMethodHS256, pubPEM, "", claims(nil)), false, jwt.ErrTokenSignatureInvalid},
		{"RS256 from another key", pk, sign(t, jwt.SigningMethodRS256, otherRSA, "", claims(nil)), false, jwt.ErrTokenSignatureInvalid},
		{"RS256 via JWKS", ks, sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(nil)), true, nil},
		{"ES256 via JWKS", ks, sign(t, jwt.SigningMethodES256, ecKey, "ec-1", claims(nil)), true, nil},
		{"HS256 against JWKS", ks, sign(t, jwt.SigningMethodHS256, hsSecret, "rsa-1", claims(nil)), false, jwt.ErrTokenSignatureInvalid},
		{"JWKS wrong issuer", ks, sign(t, jwt.SigningMethodRS256, rsaKey, "rsa-1", claims(func(c jwt.MapClaims) { c["iss"] = "x" })), false, jwt.ErrTokenInvalidIssuer},
	}
	for _, tt := range tests {
		id, err := tt.a.Identify(t.Context(), handshakeWithToken(tt.tok))
		if tt.ok {
			if err != nil || id.User != "42" || id.Source != "jwt" {
				t.Errorf("%s: %+v, %v; want user 42", tt.name, id, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidToken) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: error %v, want ErrInvalidToken wrapping %v", tt.name, err, tt.want)
		}
	}

	// Key rotation on the JWKS is picked up without a restart: a token with a new kid
	// triggers a refetch.
	newKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	set.set(rsaJWK(&newKey.PublicKey, "rsa-2"))
	tok := sign(t, jwt.SigningMethodRS256, newKey, "rsa-2", claims(nil))
	if id, err := ks.Identify(t.Context(), handshakeWithToken(tok)); err != nil || id.User != "42" {
		t.Fatalf("rotated key: %+v, %v", id, err)
	}
}

func TestJWTConfigErrors(t *testing.T) {
	for name, c := range map[string]JWTConfig{
		"two sources":  {Secret: hsSecret, JWKSURL: "http://127.0.0.1:1/jwks"},
		"short secret": {Secret: []byte("short")},
		"bad PEM":      {PublicKeyPEM: []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")},
	} {
		if _, err := New(Config{JWT: c}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTokenSources(t *testing.T) {
	mk := func(auth, url string, h http.Header) *socketio.Handshake {
		return &socketio.Handshake{Handshake: requestHandshake(url, h), Auth: json.RawMessage(auth)}
	}
	tests := []struct {
		hs   *socketio.Handshake
		want string
	}{
		{mk(`{"token":"from-auth"}`, "/?token=from-query", http.Header{"Authorization": {"Bearer from-header"}}), "from-auth"},
		{mk(`{}`, "/?token=from-query", http.Header{"Authorization": {"Bearer from-header"}}), "from-query"},
		{mk(`{}`, "/", http.Header{"Authorization": {"bearer from-header"}, "Cookie": {"token=from-cookie"}}), "from-header"},
		{mk(`{}`, "/", http.Header{"Cookie": {"a=1; token=from-cookie; b=2"}}), "from-cookie"},
		{mk(`{"token":""}`, "/", http.Header{"Authorization": {"Basic abc"}}), ""},
		{mk(`[1]`, "/?x=1", nil), ""},
		{&socketio.Handshake{Auth: json.RawMessage(`{"token":"only-auth"}`)}, "only-auth"},
	}
	for i, tt := range tests {
		if got := Token(tt.hs, DefaultTokenCookie); got != tt.want {
			t.Errorf("case %d: %q, want %q", i, got, tt.want)
		}
	}
}

func FuzzToken(f *testing.F) {
	f.Add(`{"token":"x"}`, "/?token=y", "Bearer z", "token=w")
	f.Add(`{`, "/?%zz", "bearer", `token="q"`)
	f.Fuzz(func(t *testing.T, auth, url, authz, cookie string) {
		hs := &socketio.Handshake{Handshake: requestHandshake(url, http.Header{"Authorization": {authz}, "Cookie": {cookie}}), Auth: json.RawMessage(auth)}
		tok := Token(hs, DefaultTokenCookie)
		if tok != Token(hs, DefaultTokenCookie) {
			t.Fatal("Token is not deterministic")
		}
		// Without a token in the auth payload or the query, it can only come from the
		// Authorization header or the cookie, verbatim.
		if tok != "" && !strings.Contains(auth, "token") && !strings.Contains(url, "token") &&
			!strings.Contains(authz, tok) && !strings.Contains(cookie, tok) {
			t.Fatalf("token %q not taken from the input", tok)
		}
	})
}
