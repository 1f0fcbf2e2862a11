package auth

// Identification by an Express session: the cookie express-session sets, and the
// session connect-redis keeps in Redis. Every rule here is ported from the packages
// themselves, as installed in interop/session (express-session 1.19.0, its nested
// cookie-signature 1.0.7 and cookie 0.7.2, connect-redis 8.1.0); the comments name
// the function each rule comes from. auth/session_test.go checks the port against
// them (TestExpressSessionInterop).

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/rueidis"
)

// Defaults for SessionConfig: express-session's cookie name, connect-redis's key
// prefix and the place passport keeps the user.
const (
	DefaultSessionCookieName = "connect.sid"
	DefaultSessionPrefix     = "sess:"
	DefaultSessionUserPath   = "passport.user"
)

// Errors from SessionStore.User, wrapped with context (test with errors.Is). All of
// them mean "not authenticated". Their messages never contain the cookie value, the
// session id or a secret.
var (
	// ErrNoSessionCookie: the Cookie header has no session cookie, or it is empty.
	ErrNoSessionCookie = errors.New("auth: no session cookie")
	// ErrBadSignature: the session cookie is not signed ("s:" prefix), or not by any of
	// the configured secrets.
	ErrBadSignature = errors.New("auth: bad session cookie signature")
	// ErrNoSession: the signed session id names no session in Redis (logged out,
	// destroyed, expired), or the session's cookie.expires has passed.
	ErrNoSession = errors.New("auth: no such session")
	// ErrBadSession: Redis holds something express-session could not load as a
	// session (not a JSON object, no "cookie" object, an unreadable cookie.expires).
	ErrBadSession = errors.New("auth: malformed session")
	// ErrNoUser: the session has no user id at SessionConfig.UserPath (not logged in),
	// or the value there is not a string or an integer.
	ErrNoUser = errors.New("auth: no user in session")
)

// SessionConfig configures identification by an Express session (express-session with
// connect-redis). Zero fields take the defaults of those packages.
type SessionConfig struct {
	// CookieName is express-session's "name" option. Empty means "connect.sid".
	CookieName string
	// Secrets is express-session's "secret" option: the first signs, every one
	// verifies, so a rotation lists the new secret first and keeps the old ones. At
	// least one is required, and none may be empty.
	Secrets []string
	// Prefix is connect-redis's "prefix" option: the session is at Prefix + id. Empty
	// means "sess:" (so an app that sets prefix: "" cannot be matched).
	Prefix string
	// UserPath is the dot-separated path of the user id inside the session JSON, e.g.
	// "userId" for req.session.userId. Empty means "passport.user" (passport's
	// req.session.passport.user). Each segment is an object key; arrays are not
	// indexed.
	UserPath string
}

// SessionStore finds the user of an Express session: it verifies the session cookie,
// loads the session from Redis and reads the user id from it. It is safe for
// concurrent use and starts no goroutines; it does not own the Redis client.
type SessionStore struct {
	client     rueidis.Client
	cookieName string
	secrets    [][]byte
	prefix     string
	userPath   []string
	now        func() time.Time // time.Now; tests move the clock
}

// NewSessionStore validates cfg, fills in its defaults and returns a store that reads
// sessions through client. The error names the bad field.
func NewSessionStore(cfg SessionConfig, client rueidis.Client) (*SessionStore, error) {
	if client == nil {
		return nil, errors.New("auth: NewSessionStore: nil Redis client")
	}
	s := &SessionStore{
		client:     client,
		cookieName: cmp.Or(cfg.CookieName, DefaultSessionCookieName),
		prefix:     cmp.Or(cfg.Prefix, DefaultSessionPrefix),
		now:        time.Now,
	}
	// cookie.serialize (cookie 0.7.2) refuses other names: express-session could
	// never have set such a cookie.
	if !isCookieName(s.cookieName) {
		return nil, fmt.Errorf("auth: SessionConfig.CookieName %q is not a valid cookie name", s.cookieName)
	}
	if len(cfg.Secrets) == 0 {
		return nil, errors.New("auth: SessionConfig.Secrets: at least one secret is required")
	}
	for i, secret := range cfg.Secrets {
		if secret == "" {
			return nil, fmt.Errorf("auth: SessionConfig.Secrets[%d] is empty", i)
		}
		s.secrets = append(s.secrets, []byte(secret))
	}
	path := cmp.Or(cfg.UserPath, DefaultSessionUserPath)
	s.userPath = strings.Split(path, ".")
	for _, seg := range s.userPath {
		if seg == "" {
			return nil, fmt.Errorf("auth: SessionConfig.UserPath %q has an empty segment", path)
		}
	}
	return s, nil
}

// User returns the user id of the session named by cookieHeader, the value of the
// request's Cookie header (http.Header.Get("Cookie"); when a request carries several,
// join them with "; " as Node does). A numeric id is returned as its decimal text.
//
// It accepts exactly the cookies express-session accepts, and returns ErrNoSession for
// a session whose cookie.expires has passed even while Redis still holds it (Express
// itself would take it). Redis and context errors are returned wrapped; they are not
// one of the sentinel errors.
func (s *SessionStore) User(ctx context.Context, cookieHeader string) (string, error) {
	sid, err := parseSessionCookie(cookieHeader, s.cookieName, s.secrets)
	if err != nil {
		return "", err
	}
	// connect-redis RedisStore.get: GET prefix+sid, JSON.parse; a missing or empty
	// value is no session.
	raw, err := s.client.Do(ctx, s.client.B().Get().Key(s.prefix+sid).Build()).ToString()
	if rueidis.IsRedisNil(err) || err == nil && raw == "" {
		return "", fmt.Errorf("%w: cookie %q names no session in Redis", ErrNoSession, s.cookieName)
	}
	if err != nil {
		return "", fmt.Errorf("auth: load session (cookie %q): %w", s.cookieName, err)
	}
	return sessionUser(raw, s.userPath, s.now())
}

// parseSessionCookie returns the session id in the cookie called name, as
// express-session's getcookie does: the first cookie with that name (cookie.parse),
// URL-decoded, must start with "s:" and carry a signature by one of secrets.
func parseSessionCookie(header, name string, secrets [][]byte) (string, error) {
	raw, ok := sessionCookieValue(header, name)
	if !ok || raw == "" {
		return "", fmt.Errorf("%w %q", ErrNoSessionCookie, name)
	}
	val, ok := strings.CutPrefix(raw, "s:")
	if !ok {
		return "", fmt.Errorf("%w: cookie %q is not signed (no \"s:\" prefix)", ErrBadSignature, name)
	}
	sid, ok := sessionUnsign(val, secrets)
	if !ok {
		return "", fmt.Errorf("%w: cookie %q", ErrBadSignature, name)
	}
	if sid == "" {
		// express-session: `if (!req.sessionID)` starts a new session.
		return "", fmt.Errorf("%w: cookie %q has an empty session id", ErrNoSession, name)
	}
	return sid, nil
}

// sessionSign is cookie-signature's sign without the value: the HMAC-SHA256 of val
// keyed with secret, in base64 with its "=" padding removed.
func sessionSign(val string, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(val))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// sessionUnsign is cookie-signature's unsign tried with each secret in turn
// (express-session unsigncookie): signed is "value.signature", split at the last dot,
// and the signature must be exactly the text sessionSign produces (a non-canonical
// base64 spelling of the same bytes, or added padding, does not verify). The
// comparison is constant-time, and every secret is tried.
func sessionUnsign(signed string, secrets [][]byte) (string, bool) {
	dot := strings.LastIndexByte(signed, '.')
	if dot < 0 {
		return "", false
	}
	val, mac := signed[:dot], []byte(signed[dot+1:])
	ok := 0
	for _, secret := range secrets {
		ok |= subtle.ConstantTimeCompare(mac, []byte(sessionSign(val, secret)))
	}
	return val, ok == 1
}

// sessionCookieValue returns the decoded value of the first cookie called name in the
// Cookie header str, following parse in the cookie package (0.7.2) that express-session
// uses: pairs split at ";", a pair without "=" skipped, names and values trimmed of
// spaces and tabs, one pair of surrounding double quotes removed, then decoded with
// decodeURIComponent when the value holds a "%", keeping the raw value if that throws.
//
// Node reads header bytes as Latin-1, so a byte from 0x80 up is the character U+0080
// to U+00FF: the result is that JavaScript string in UTF-8, as Node would hash it and
// name its Redis key.
func sessionCookieValue(str, name string) (string, bool) {
	n := len(str)
	if n < 2 {
		return "", false
	}
	index := 0
	for index < n {
		eq := strings.IndexByte(str[index:], '=')
		if eq < 0 {
			break // no more pairs
		}
		eq += index
		end := strings.IndexByte(str[index:], ';')
		if end < 0 {
			end = n
		} else if end += index; eq > end {
			// A pair without "=": restart at the pair holding this "=".
			index = strings.LastIndexByte(str[:eq], ';') + 1
			continue
		}
		keyStart := cookieSkipSpace(str, index, eq)
		if str[keyStart:cookieTrimSpaceEnd(str, eq, keyStart)] == name { // only the first counts
			valStart := cookieSkipSpace(str, eq+1, end)
			valEnd := cookieTrimSpaceEnd(str, end, valStart)
			if valEnd-valStart >= 2 && str[valStart] == '"' && str[valEnd-1] == '"' {
				valStart++
				valEnd--
			} else if valEnd-valStart == 1 && str[valStart] == '"' {
				return "", true // JavaScript's slice of a lone quote after stripping: ""
			}
			return decodeCookieValue(str[valStart:valEnd]), true
		}
		index = end + 1
	}
	return "", false
}

// cookieSkipSpace returns the first index in [i, max) that is not a space or a tab, or max.
func cookieSkipSpace(s string, i, max int) int {
	for ; i < max; i++ {
		if s[i] != ' ' && s[i] != '\t' {
			return i
		}
	}
	return max
}

// cookieTrimSpaceEnd returns the end of s[min:i] without its trailing spaces and tabs.
func cookieTrimSpaceEnd(s string, i, min int) int {
	for ; i > min; i-- {
		if s[i-1] != ' ' && s[i-1] != '\t' {
			return i
		}
	}
	return min
}

// decodeCookieValue is cookie's tryDecode(str, decode): decodeURIComponent when str
// holds a "%", and str itself when that throws (a bad escape, or escapes that are not
// UTF-8: overlong forms, surrogates and lone bytes are all refused, as Go's
// utf8.Valid refuses them). Bytes from 0x80 up are Latin-1 characters (see
// sessionCookieValue).
func decodeCookieValue(s string) string {
	if !strings.Contains(s, "%") {
		return latin1String(s)
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHexDigit(s[i+1]) || !isHexDigit(s[i+2]) {
				return latin1String(s)
			}
			b = append(b, unhexDigit(s[i+1])<<4|unhexDigit(s[i+2]))
			i += 2
		case c >= utf8.RuneSelf:
			b = utf8.AppendRune(b, rune(c))
		default:
			b = append(b, c)
		}
	}
	// A literal character is always a whole UTF-8 sequence, so the result is valid
	// exactly when every run of escapes is, as decodeURIComponent requires.
	if !utf8.Valid(b) {
		return latin1String(s)
	}
	return string(b)
}

// latin1String returns s, read byte by byte as Latin-1, in UTF-8.
func latin1String(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			b := make([]byte, 0, len(s)+8)
			b = append(b, s[:i]...)
			for ; i < len(s); i++ {
				b = utf8.AppendRune(b, rune(s[i]))
			}
			return string(b)
		}
	}
	return s
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhexDigit(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// isCookieName is cookie 0.7.2's cookieNameRegExp, /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.
func isCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !alnum && strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}

// sessionUser reads the user id at path from the session JSON raw, after the checks
// express-session makes when it loads a session (Store.createSession needs a "cookie"
// object) plus one it leaves to the store: cookie.expires not yet passed at now.
// Keys are matched exactly, and a repeated key means its last value, as JSON.parse.
func sessionUser(raw string, path []string, now time.Time) (string, error) {
	if strings.TrimSpace(raw) == "null" {
		// connect-redis returns JSON.parse's null, which express-session takes for none.
		return "", fmt.Errorf("%w: the stored session is null", ErrNoSession)
	}
	var sess map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &sess); err != nil {
		return "", fmt.Errorf("%w: not a JSON object: %v", ErrBadSession, err)
	}
	var cookie map[string]json.RawMessage
	if err := json.Unmarshal(sess["cookie"], &cookie); err != nil || cookie == nil {
		return "", fmt.Errorf("%w: no \"cookie\" object", ErrBadSession)
	}
	// express-session's Cookie.toJSON writes expires as a Date, which JSON.stringify
	// writes as an ISO 8601 string (toISOString), or null for a browser-session cookie.
	if exp, ok := cookie["expires"]; ok && string(exp) != "null" {
		var text string
		if err := json.Unmarshal(exp, &text); err != nil {
			return "", fmt.Errorf("%w: cookie.expires is not a string", ErrBadSession)
		}
		t, err := time.Parse(time.RFC3339, text)
		if err != nil {
			return "", fmt.Errorf("%w: cookie.expires %q is not an ISO 8601 time", ErrBadSession, text)
		}
		if !t.After(now) { // express-session MemoryStore: expires <= Date.now()
			return "", fmt.Errorf("%w: the session expired at %s", ErrNoSession, t.UTC().Format(time.RFC3339))
		}
	}
	obj := sess
	for i, key := range path {
		v, ok := obj[key]
		if !ok {
			return "", fmt.Errorf("%w: no %q", ErrNoUser, strings.Join(path[:i+1], "."))
		}
		if i == len(path)-1 {
			user, err := sessionUserID(v)
			if err != nil {
				return "", fmt.Errorf("%w: %q %v", ErrNoUser, strings.Join(path, "."), err)
			}
			return user, nil
		}
		obj = nil
		if err := json.Unmarshal(v, &obj); err != nil || obj == nil {
			return "", fmt.Errorf("%w: %q is not an object", ErrNoUser, strings.Join(path[:i+1], "."))
		}
	}
	// Not reached: NewSessionStore refuses an empty path.
	return "", fmt.Errorf("%w: empty SessionConfig.UserPath", ErrNoUser)
}

// sessionMaxExactInt is 2^53: every integer up to it in magnitude is exact in a
// float64.
const sessionMaxExactInt = 1 << 53

// sessionUserID renders a JSON string or integer as the user id. An integer written
// without a fraction or exponent is returned as written (JSON.stringify writes ids that
// way, and String(id) in Node gives the same text), never through a float64; one
// written as 42.0 or 4.2e1 must be exact in a float64 and becomes "42". Other numbers
// (1.5, 1e21) are refused.
func sessionUserID(v json.RawMessage) (string, error) {
	if len(v) == 0 {
		return "", errors.New("is empty")
	}
	switch c := v[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		if s == "" {
			return "", errors.New("is an empty string")
		}
		return s, nil
	case c == '-' || '0' <= c && c <= '9':
		lit := string(v)
		if !strings.ContainsAny(lit, ".eE") {
			if lit == "-0" {
				return "0", nil
			}
			return lit, nil
		}
		f, err := strconv.ParseFloat(lit, 64)
		if err != nil || f != math.Trunc(f) || math.Abs(f) > sessionMaxExactInt {
			return "", fmt.Errorf("is %s, not an integer", lit)
		}
		if f == 0 {
			return "0", nil
		}
		return strconv.FormatFloat(f, 'f', -1, 64), nil
	default:
		return "", errors.New("is not a string or a number")
	}
}
