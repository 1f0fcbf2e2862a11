package auth

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/rueidis"

	"github.com/heraldhq/herald/internal/testredis"
)

// signatureVector is one cookie made by the real packages.
type signatureVector struct {
	sid, secret string
	signed      string // cookie-signature sign(sid, secret)
	header      string // cookie.serialize("connect.sid", "s:" + signed): express-session's
}

// signatureVectors were printed by `node app.mjs vectors` in interop/session (after
// `npm ci` there): sign() of the cookie-signature 1.0.7 nested under express-session
// 1.19.0, the copy its setcookie and unsigncookie call, and serialize() of cookie 0.7.2,
// which encodes with encodeURIComponent. TestExpressSessionInterop runs that command
// again and checks these literals against its output.
var signatureVectors = []signatureVector{
	{"uDsGNm9qTKIL2C-Ynyx3FN6ZYjPOVu1e", "keyboard cat",
		"uDsGNm9qTKIL2C-Ynyx3FN6ZYjPOVu1e.lvdMDF4bikUR84d4fr3Wm8nE7tgj87jdG7LryMqFh+s",
		"connect.sid=s%3AuDsGNm9qTKIL2C-Ynyx3FN6ZYjPOVu1e.lvdMDF4bikUR84d4fr3Wm8nE7tgj87jdG7LryMqFh%2Bs"},
	{"uDsGNm9qTKIL2C-Ynyx3FN6ZYjPOVu1e", "new secret",
		"uDsGNm9qTKIL2C-Ynyx3FN6ZYjPOVu1e.SI1AqQcF+tiD2Rnwlq/pL5bBoOlpZidpzY0bUL3VDSk",
		"connect.sid=s%3AuDsGNm9qTKIL2C-Ynyx3FN6ZYjPOVu1e.SI1AqQcF%2BtiD2Rnwlq%2FpL5bBoOlpZidpzY0bUL3VDSk"},
	{"", "keyboard cat",
		".aJcKKTu8Uv0mRiw7LTI435t+pOa+giU/WLAuLCKGEFc",
		"connect.sid=s%3A.aJcKKTu8Uv0mRiw7LTI435t%2BpOa%2BgiU%2FWLAuLCKGEFc"},
	{"a.b.c", "keyboard cat",
		"a.b.c.G8ReS2HiYVtvMBGFvZUGp5RaCauWFLUTjnnTm/EQ2aE",
		"connect.sid=s%3Aa.b.c.G8ReS2HiYVtvMBGFvZUGp5RaCauWFLUTjnnTm%2FEQ2aE"},
	{"sid with spaces/+é", "sécret ünïcode",
		"sid with spaces/+é.utRrC4vi9AY/9o6cSxrRrVoKquFpI2FLfnGfcmk1r5I",
		"connect.sid=s%3Asid%20with%20spaces%2F%2B%C3%A9.utRrC4vi9AY%2F9o6cSxrRrVoKquFpI2FLfnGfcmk1r5I"},
	{"x", "s",
		"x.zvsQXuIplvsWftYGR40pMbh6o6uZtLBLaMT8Fsi0mjA",
		"connect.sid=s%3Ax.zvsQXuIplvsWftYGR40pMbh6o6uZtLBLaMT8Fsi0mjA"},
}

func TestSessionSignVectors(t *testing.T) {
	for _, v := range signatureVectors {
		t.Run(v.header, func(t *testing.T) {
			if got := v.sid + "." + sessionSign(v.sid, []byte(v.secret)); got != v.signed {
				t.Errorf("sign = %q, want %q", got, v.signed)
			}
			if got, ok := sessionUnsign(v.signed, [][]byte{[]byte(v.secret)}); !ok || got != v.sid {
				t.Errorf("unsign = %q, %v; want %q, true", got, ok, v.sid)
			}
			if got, ok := sessionCookieValue(v.header, "connect.sid"); !ok || got != "s:"+v.signed {
				t.Errorf("cookie value = %q, %v; want %q", got, ok, "s:"+v.signed)
			}
			sid, err := parseSessionCookie(v.header, "connect.sid", [][]byte{[]byte(v.secret)})
			if v.sid == "" { // a valid signature of no id: express-session starts a new session
				if !errors.Is(err, ErrNoSession) {
					t.Errorf("parse = %q, %v; want ErrNoSession", sid, err)
				}
				return
			}
			if err != nil || sid != v.sid {
				t.Errorf("parse = %q, %v; want %q", sid, err, v.sid)
			}
		})
	}
}

func TestParseSessionCookie(t *testing.T) {
	const sid = "uDsGNm9qTKIL2C-Ynyx3FN6ZYjPOVu1e"
	oldSigned := signatureVectors[0].signed // signed with "keyboard cat"
	oldHeader := signatureVectors[0].header
	oldValue := strings.TrimPrefix(oldHeader, "connect.sid=")
	newSigned := signatureVectors[1].signed // signed with "new secret"
	mac := oldSigned[len(sid)+1:]
	rotation := []string{"new secret", "keyboard cat"}
	// Node reads the header byte 0xe9 as U+00E9, and signs the UTF-8 of that string.
	latinSid := "café"
	latinMac := sessionSign(latinSid, []byte("keyboard cat"))

	tests := []struct {
		name    string
		header  string
		secrets []string // nil: rotation
		want    string
		err     error
	}{
		// Rotation: the first secret signs, every one verifies.
		{name: "old secret in rotation", header: oldHeader, want: sid},
		{name: "new secret in rotation", header: signatureVectors[1].header, want: sid},
		{name: "old secret dropped", header: oldHeader, secrets: []string{"new secret"}, err: ErrBadSignature},
		{name: "only old secret", header: oldHeader, secrets: []string{"keyboard cat"}, want: sid},
		{name: "unknown secret", header: oldHeader, secrets: []string{"other", "another"}, err: ErrBadSignature},

		// Tampering.
		{name: "sid changed", header: "connect.sid=s%3AvDsGNm9qTKIL2C-Ynyx3FN6ZYjPOVu1e." + mac, err: ErrBadSignature},
		{name: "mac changed", header: "connect.sid=s:" + sid + ".mvdMDF4bikUR84d4fr3Wm8nE7tgj87jdG7LryMqFh+s", err: ErrBadSignature},
		{name: "mac truncated", header: "connect.sid=s:" + oldSigned[:len(oldSigned)-1], err: ErrBadSignature},
		{name: "mac padded", header: "connect.sid=s:" + oldSigned + "=", err: ErrBadSignature},
		// The last base64 digit carries 4 bits of the MAC and 2 zero bits: "t" decodes to
		// the same bytes as "s", but cookie-signature compares the text.
		{name: "mac non-canonical base64", header: "connect.sid=s:" + oldSigned[:len(oldSigned)-1] + "t", err: ErrBadSignature},
		{name: "mac url-safe base64", header: "connect.sid=s:" + strings.ReplaceAll(oldSigned, "+", "-"), err: ErrBadSignature},
		{name: "mac of another sid", header: "connect.sid=s:other." + mac, err: ErrBadSignature},
		{name: "mac swapped between secrets", header: "connect.sid=s:" + sid + "." + newSigned[len(sid)+1:], secrets: []string{"keyboard cat"}, err: ErrBadSignature},
		{name: "no dot", header: "connect.sid=s:" + sid + mac, err: ErrBadSignature},
		{name: "not signed", header: "connect.sid=" + sid, err: ErrBadSignature},
		{name: "signed without s: prefix", header: "connect.sid=" + oldSigned, err: ErrBadSignature},
		{name: "s: prefix upper case", header: "connect.sid=S:" + oldSigned, err: ErrBadSignature},

		// Encodings, as cookie.parse and decodeURIComponent read them.
		{name: "not percent-encoded", header: "connect.sid=s:" + oldSigned, want: sid},
		{name: "lower-case escapes", header: strings.ReplaceAll(oldHeader, "%2B", "%2b"), want: sid},
		{name: "every character escaped", header: "connect.sid=" + escapeAll("s:"+oldSigned), want: sid},
		{name: "quoted", header: `connect.sid="` + oldValue + `"`, want: sid},
		{name: "quoted twice", header: `connect.sid=""` + oldValue + `""`, err: ErrBadSignature},
		{name: "opening quote only", header: `connect.sid="` + oldValue, err: ErrBadSignature},
		{name: "closing quote only", header: `connect.sid=` + oldValue + `"`, err: ErrBadSignature},
		{name: "lone quote", header: `connect.sid="`, err: ErrNoSessionCookie},
		{name: "empty quotes", header: `connect.sid=""`, err: ErrNoSessionCookie},
		// decodeURIComponent throws, so the raw value is kept: "s%3A..." has no "s:" prefix.
		{name: "bad escape", header: oldHeader + "%ZZ", err: ErrBadSignature},
		{name: "truncated escape", header: oldHeader + "%4", err: ErrBadSignature},
		{name: "escape not UTF-8", header: oldHeader + "%FF", err: ErrBadSignature},
		{name: "escaped surrogate", header: oldHeader + "%ED%A0%80", err: ErrBadSignature},
		{name: "overlong escape", header: oldHeader + "%C0%AE", err: ErrBadSignature},
		{name: "raw value with bad escape", header: "connect.sid=s:" + oldSigned + "%", err: ErrBadSignature},
		{name: "plus is not a space", header: "connect.sid=s%3A" + oldSigned, want: sid},
		{name: "latin-1 byte", header: "connect.sid=s:caf\xe9." + latinMac, want: latinSid},
		{name: "latin-1 as UTF-8 escapes", header: "connect.sid=s%3Acaf%C3%A9." + latinMac, want: latinSid},
		{name: "latin-1 byte beside an escape", header: "connect.sid=s%3Acaf\xe9." + latinMac, want: latinSid},
		{name: "raw UTF-8 bytes are two latin-1 characters", header: "connect.sid=s:caf\xc3\xa9." + latinMac, err: ErrBadSignature},

		// Cookie header syntax.
		{name: "among others", header: "a=1; connect.sid=" + oldValue + "; b=2", want: sid},
		{name: "no spaces", header: "a=1;connect.sid=" + oldValue + ";b=2", want: sid},
		{name: "spaces and tabs", header: " \ta=1 ;\t connect.sid \t= \t" + oldValue + " \t; b=2", want: sid},
		{name: "pair without =", header: "junk; connect.sid=" + oldValue, want: sid},
		{name: "pairs without =", header: "junk;;more junk;connect.sid=" + oldValue + ";", want: sid},
		{name: "first wins", header: "connect.sid=s%3Abad.sig; connect.sid=" + oldValue, err: ErrBadSignature},
		{name: "first wins when valid", header: "connect.sid=" + oldValue + "; connect.sid=s%3Abad.sig", want: sid},
		{name: "empty first wins", header: "connect.sid=; connect.sid=" + oldValue, err: ErrNoSessionCookie},
		{name: "name is case-sensitive", header: "Connect.sid=" + oldValue, err: ErrNoSessionCookie},
		{name: "name is not a prefix match", header: "connect.sid2=" + oldValue, err: ErrNoSessionCookie},
		{name: "quoted pair swallows nothing", header: `a="x; connect.sid=` + oldValue + `"`, err: ErrBadSignature},
		{name: "value starting with =", header: "connect.sid==" + oldValue, err: ErrBadSignature},

		// No cookie.
		{name: "empty header", header: "", err: ErrNoSessionCookie},
		{name: "one character", header: "=", err: ErrNoSessionCookie},
		{name: "other cookies", header: "token=abc; a=b", err: ErrNoSessionCookie},
		{name: "empty value", header: "connect.sid=", err: ErrNoSessionCookie},
		{name: "blank value", header: "connect.sid= \t ; a=b", err: ErrNoSessionCookie},
		{name: "name without =", header: "connect.sid", err: ErrNoSessionCookie},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secrets := tt.secrets
			if secrets == nil {
				secrets = rotation
			}
			got, err := parseSessionCookie(tt.header, "connect.sid", toBytes(secrets))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("parse = %q, %v; want %v", got, err, tt.err)
				}
				checkSessionErrorText(t, err)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parse = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// checkSessionErrorText checks the error rules: the package prefix, and nothing secret.
func checkSessionErrorText(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "auth: ") {
		t.Errorf("error %q does not start with \"auth: \"", msg)
	}
	for _, secret := range []string{"uDsGNm9qTKIL2C", "keyboard cat", "new secret", "lvdMDF4bik", "café", "caf\xe9"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q shows %q", msg, secret)
		}
	}
}

func TestSessionUser(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const cookie = `"cookie":{"originalMaxAge":3600000,"expires":"2026-11-30T13:00:00.000Z","httpOnly":true,"path":"/","sameSite":"lax"}`
	passport := []string{"passport", "user"}
	userID := []string{"userId"}
	tests := []struct {
		name string
		sess string
		path []string // nil: passport.user
		want string
		err  error
	}{
		{name: "passport string", sess: `{` + cookie + `,"passport":{"user":"42"}}`, want: "42"},
		{name: "userId string", sess: `{` + cookie + `,"userId":"42"}`, path: userID, want: "42"},
		{name: "number", sess: `{` + cookie + `,"passport":{"user":42}}`, want: "42"},
		{name: "negative number", sess: `{` + cookie + `,"passport":{"user":-7}}`, want: "-7"},
		{name: "zero", sess: `{` + cookie + `,"passport":{"user":0}}`, want: "0"},
		{name: "minus zero", sess: `{` + cookie + `,"passport":{"user":-0}}`, want: "0"},
		{name: "2^53-1", sess: `{` + cookie + `,"passport":{"user":9007199254740991}}`, want: "9007199254740991"},
		{name: "above 2^53 kept as written", sess: `{` + cookie + `,"passport":{"user":9007199254740993}}`, want: "9007199254740993"},
		{name: "above 2^64 kept as written", sess: `{` + cookie + `,"passport":{"user":123456789012345678901234567890}}`, want: "123456789012345678901234567890"},
		{name: "integer with exponent", sess: `{` + cookie + `,"passport":{"user":1e3}}`, want: "1000"},
		{name: "integer with zero fraction", sess: `{` + cookie + `,"passport":{"user":42.0}}`, want: "42"},
		{name: "big integer with exponent", sess: `{` + cookie + `,"passport":{"user":1e21}}`, err: ErrNoUser},
		{name: "fraction", sess: `{` + cookie + `,"passport":{"user":1.5}}`, err: ErrNoUser},
		{name: "spaces around values", sess: "{ " + cookie + " , \"passport\" : { \"user\" :\t42 \n} }", want: "42"},
		{name: "escaped string", sess: `{` + cookie + `,"passport":{"user":"a\"b\u00e9"}}`, want: `a"bé`},
		{name: "deep path", sess: `{` + cookie + `,"a":{"b":{"c":"x"}}}`, path: []string{"a", "b", "c"}, want: "x"},
		{name: "last duplicate key wins", sess: `{` + cookie + `,"passport":{"user":"1","user":"2"}}`, want: "2"},
		{name: "keys are case-sensitive", sess: `{` + cookie + `,"Passport":{"User":"42"}}`, err: ErrNoUser},

		{name: "not logged in", sess: `{` + cookie + `}`, err: ErrNoUser},
		{name: "passport without user", sess: `{` + cookie + `,"passport":{}}`, err: ErrNoUser},
		{name: "passport null", sess: `{` + cookie + `,"passport":null}`, err: ErrNoUser},
		{name: "passport not an object", sess: `{` + cookie + `,"passport":"42"}`, err: ErrNoUser},
		{name: "user null", sess: `{` + cookie + `,"passport":{"user":null}}`, err: ErrNoUser},
		{name: "user empty", sess: `{` + cookie + `,"passport":{"user":""}}`, err: ErrNoUser},
		{name: "user bool", sess: `{` + cookie + `,"passport":{"user":true}}`, err: ErrNoUser},
		{name: "user object", sess: `{` + cookie + `,"passport":{"user":{"id":42}}}`, err: ErrNoUser},
		{name: "user array", sess: `{` + cookie + `,"passport":{"user":[42]}}`, err: ErrNoUser},
		{name: "wrong path", sess: `{` + cookie + `,"passport":{"user":"42"}}`, path: userID, err: ErrNoUser},

		{name: "expired", sess: `{"cookie":{"expires":"2026-11-30T11:59:59.999Z"},"passport":{"user":"42"}}`, err: ErrNoSession},
		{name: "expires now", sess: `{"cookie":{"expires":"2026-11-30T12:00:00.000Z"},"passport":{"user":"42"}}`, err: ErrNoSession},
		{name: "expires in a millisecond", sess: `{"cookie":{"expires":"2026-11-30T12:00:00.001Z"},"passport":{"user":"42"}}`, want: "42"},
		{name: "expires with offset", sess: `{"cookie":{"expires":"2026-11-30T12:30:00+01:00"},"passport":{"user":"42"}}`, err: ErrNoSession},
		{name: "browser-session cookie", sess: `{"cookie":{"originalMaxAge":null,"expires":null},"passport":{"user":"42"}}`, want: "42"},
		{name: "no expires", sess: `{"cookie":{},"passport":{"user":"42"}}`, want: "42"},
		{name: "expires not a date", sess: `{"cookie":{"expires":"tomorrow"},"passport":{"user":"42"}}`, err: ErrBadSession},
		{name: "expires a number", sess: `{"cookie":{"expires":1893456000000},"passport":{"user":"42"}}`, err: ErrBadSession},
		{name: "no cookie", sess: `{"passport":{"user":"42"}}`, err: ErrBadSession},
		{name: "cookie null", sess: `{"cookie":null,"passport":{"user":"42"}}`, err: ErrBadSession},
		{name: "cookie not an object", sess: `{"cookie":"x","passport":{"user":"42"}}`, err: ErrBadSession},
		{name: "null session", sess: `null`, err: ErrNoSession},
		{name: "array", sess: `[]`, err: ErrBadSession},
		{name: "not JSON", sess: `{"cookie":`, err: ErrBadSession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == nil {
				path = passport
			}
			got, err := sessionUser(tt.sess, path, now)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("user = %q, %v; want %v", got, err, tt.err)
				}
				checkSessionErrorText(t, err)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("user = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// nopRedis is a non-nil rueidis.Client for the tests that never reach Redis.
type nopRedis struct{ rueidis.Client }

func TestNewSessionStore(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg := SessionConfig{Secrets: []string{"new", "old"}}
		s, err := NewSessionStore(cfg, nopRedis{})
		if err != nil {
			t.Fatal(err)
		}
		if s.cookieName != "connect.sid" || s.prefix != "sess:" || strings.Join(s.userPath, ".") != "passport.user" {
			t.Errorf("defaults: cookie %q, prefix %q, path %q", s.cookieName, s.prefix, s.userPath)
		}
		if len(s.secrets) != 2 || string(s.secrets[0]) != "new" || string(s.secrets[1]) != "old" {
			t.Errorf("secrets %q", s.secrets)
		}
		if cfg.CookieName != "" || cfg.Prefix != "" || cfg.UserPath != "" {
			t.Errorf("the caller's config was written: %+v", cfg)
		}
	})
	t.Run("set", func(t *testing.T) {
		s, err := NewSessionStore(SessionConfig{CookieName: "sid", Secrets: []string{"k"}, Prefix: "app:", UserPath: "userId"}, nopRedis{})
		if err != nil {
			t.Fatal(err)
		}
		if s.cookieName != "sid" || s.prefix != "app:" || strings.Join(s.userPath, ".") != "userId" {
			t.Errorf("cookie %q, prefix %q, path %q", s.cookieName, s.prefix, s.userPath)
		}
	})
	tests := []struct {
		name   string
		cfg    SessionConfig
		client rueidis.Client
		want   string // in the error
	}{
		{"no secrets", SessionConfig{}, nopRedis{}, "SessionConfig.Secrets"},
		{"empty secret list", SessionConfig{Secrets: []string{}}, nopRedis{}, "SessionConfig.Secrets"},
		{"empty secret", SessionConfig{Secrets: []string{"a", ""}}, nopRedis{}, "SessionConfig.Secrets[1]"},
		{"cookie name with space", SessionConfig{CookieName: "connect sid", Secrets: []string{"a"}}, nopRedis{}, "SessionConfig.CookieName"},
		{"cookie name with =", SessionConfig{CookieName: "a=b", Secrets: []string{"a"}}, nopRedis{}, "SessionConfig.CookieName"},
		{"cookie name with ;", SessionConfig{CookieName: "a;b", Secrets: []string{"a"}}, nopRedis{}, "SessionConfig.CookieName"},
		{"cookie name non-ASCII", SessionConfig{CookieName: "sé", Secrets: []string{"a"}}, nopRedis{}, "SessionConfig.CookieName"},
		{"path with empty segment", SessionConfig{Secrets: []string{"a"}, UserPath: "passport..user"}, nopRedis{}, "SessionConfig.UserPath"},
		{"path ending in a dot", SessionConfig{Secrets: []string{"a"}, UserPath: "user."}, nopRedis{}, "SessionConfig.UserPath"},
		{"no client", SessionConfig{Secrets: []string{"a"}}, nil, "nil Redis client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSessionStore(tt.cfg, tt.client)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "auth: ") {
				t.Fatalf("err = %v; want one naming %s", err, tt.want)
			}
		})
	}
}

// TestSessionStoreUser runs SessionStore.User against a private redis-server, with
// sessions written as connect-redis writes them.
func TestSessionStoreUser(t *testing.T) {
	rs := testredis.Start(t)
	client := newSessionTestClient(t, rs.Addr)
	ctx := context.Background()
	store, err := NewSessionStore(SessionConfig{Secrets: []string{"new", "old"}}, client)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	future := now.Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	past := now.Add(-time.Second).UTC().Format("2006-01-02T15:04:05.000Z")
	put := func(key, val string) {
		t.Helper()
		if err := client.Do(ctx, client.B().Set().Key(key).Value(val).Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	header := func(sid, secret string) string {
		return "connect.sid=" + sessionEncodeURIComponent("s:"+sid+"."+sessionSign(sid, []byte(secret)))
	}
	put("sess:alice", `{"cookie":{"expires":"`+future+`"},"passport":{"user":"alice-id"}}`)
	put("sess:bob", `{"cookie":{"expires":"`+future+`"},"passport":{"user":12345678901234567}}`)
	put("sess:expired", `{"cookie":{"expires":"`+past+`"},"passport":{"user":"42"}}`)
	put("sess:anon", `{"cookie":{"expires":"`+future+`"}}`)
	put("sess:empty", ``)
	put("sess:garbage", `not json`)
	put("other:alice", `{"cookie":{},"passport":{"user":"other-alice"}}`)
	if err := client.Do(ctx, client.B().Lpush().Key("sess:list").Element("x").Build()).Error(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		header string
		want   string
		err    error
	}{
		{"string id", header("alice", "new"), "alice-id", nil},
		{"old secret", header("alice", "old"), "alice-id", nil},
		{"numeric id", header("bob", "old"), "12345678901234567", nil},
		{"unknown secret", header("alice", "rogue"), "", ErrBadSignature},
		{"no cookie", "a=b", "", ErrNoSessionCookie},
		{"missing session", header("nobody", "new"), "", ErrNoSession},
		{"expired but still in Redis", header("expired", "new"), "", ErrNoSession},
		{"empty value", header("empty", "new"), "", ErrNoSession},
		{"not logged in", header("anon", "new"), "", ErrNoUser},
		{"garbage", header("garbage", "new"), "", ErrBadSession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := store.User(ctx, tt.header)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("User = %q, %v; want %v", got, err, tt.err)
				}
				checkSessionErrorText(t, err)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("User = %q, %v; want %q", got, err, tt.want)
			}
		})
	}

	t.Run("prefix", func(t *testing.T) {
		other, err := NewSessionStore(SessionConfig{Secrets: []string{"new"}, Prefix: "other:"}, client)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := other.User(ctx, header("alice", "new")); err != nil || got != "other-alice" {
			t.Fatalf("User = %q, %v; want other-alice", got, err)
		}
	})
	t.Run("clock", func(t *testing.T) {
		moved := *store
		moved.now = func() time.Time { return now.Add(2 * time.Hour) }
		if got, err := moved.User(ctx, header("alice", "new")); !errors.Is(err, ErrNoSession) {
			t.Fatalf("User an hour after expiry = %q, %v; want ErrNoSession", got, err)
		}
	})
	t.Run("redis error", func(t *testing.T) {
		got, err := store.User(ctx, header("list", "new"))
		if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") || isSessionSentinel(err) {
			t.Fatalf("User of a list = %q, %v; want a Redis error that is no sentinel", got, err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		got, err := store.User(cctx, header("alice", "new"))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("User with a canceled context = %q, %v", got, err)
		}
	})
}

func isSessionSentinel(err error) bool {
	for _, s := range []error{ErrNoSessionCookie, ErrBadSignature, ErrNoSession, ErrBadSession, ErrNoUser} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzParseSessionCookie checks the cookie parser and the signature check on any
// header: no panic, a sentinel error for every refusal, and an accepted id whose
// cookie really is "s:" + id + "." + its signature by one of the secrets. Then the
// round trip: any id, signed by either secret and encoded as express-session sets it
// (encodeURIComponent), parses back to itself, in several header spellings; with one
// signature character changed, or with only the other secret, it is refused.
func FuzzParseSessionCookie(f *testing.F) {
	const name = "connect.sid"
	secrets := [][]byte{[]byte("new secret"), []byte("keyboard cat")}
	for _, v := range signatureVectors {
		f.Add(v.header, v.sid)
		f.Add(`a=b; `+name+`="`+strings.TrimPrefix(v.header, name+"=")+`"`, v.sid+"é")
	}
	f.Add("connect.sid=s:caf\xe9.x", "caf\xe9")
	f.Add("junk;connect.sid=%ZZ;connect.sid=s%3Aa.b", "a;b=c")
	f.Add(`connect.sid="`, ` "quoted" `)
	f.Fuzz(func(t *testing.T, header, sid string) {
		got, err := parseSessionCookie(header, name, secrets)
		raw, found := sessionCookieValue(header, name)
		if found && !utf8.ValidString(raw) {
			t.Fatalf("cookie value %q is not UTF-8", raw)
		}
		if err != nil {
			if !isSessionSentinel(err) {
				t.Fatalf("parse(%q): error %v is no sentinel", header, err)
			}
		} else if got == "" || !found ||
			raw != "s:"+got+"."+sessionSign(got, secrets[0]) && raw != "s:"+got+"."+sessionSign(got, secrets[1]) {
			t.Fatalf("parse(%q) accepted %q from cookie value %q", header, got, raw)
		}

		if sid == "" || !utf8.ValidString(sid) {
			return // express-session ids are non-empty JavaScript strings
		}
		for i, secret := range secrets {
			mac := sessionSign(sid, secret)
			value := sessionEncodeURIComponent("s:" + sid + "." + mac)
			for _, h := range []string{
				name + "=" + value,
				"a=b; " + name + "=" + value + "; " + name + "=other",
				"junk; \t" + name + ` = "` + value + `" ;x=y`,
			} {
				if got, err := parseSessionCookie(h, name, secrets); err != nil || got != sid {
					t.Fatalf("round trip of %q in %q = %q, %v", sid, h, got, err)
				}
			}
			pos := len(header) % len(mac)
			swap := byte('A')
			if mac[pos] == 'A' {
				swap = 'B'
			}
			tampered := mac[:pos] + string(swap) + mac[pos+1:]
			h := name + "=" + sessionEncodeURIComponent("s:"+sid+"."+tampered)
			if got, err := parseSessionCookie(h, name, secrets); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("tampered signature of %q accepted: %q, %v", sid, got, err)
			}
			if got, err := parseSessionCookie(name+"="+value, name, secrets[1-i:2-i]); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("signature of %q by secret %d accepted by the other: %q, %v", sid, i, got, err)
			}
		}
	})
}

// sessionEncodeURIComponent is JavaScript's encodeURIComponent for valid UTF-8.
func sessionEncodeURIComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// escapeAll percent-encodes every byte of s.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02x", s[i])
	}
	return b.String()
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func newSessionTestClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return client
}

// TestExpressSessionInterop logs in to a real Express app (interop/session/app.mjs:
// express 5.3.0, express-session 1.19.0, connect-redis 8.1.0, redis 4.7.1) and checks
// that the cookie it sets identifies the same user in a SessionStore reading the same
// Redis. It also replays odd Cookie headers to the app and to the store, which must
// agree on every one of them.
func TestExpressSessionInterop(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "interop", "session"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatalf("%s has no node_modules: run `npm ci` in interop/session (%v)", dir, err)
	}
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("TestExpressSessionInterop needs node on PATH: %v", err)
	}
	t.Run("vectors", func(t *testing.T) { checkSignatureVectors(t, nodeBin, dir) })

	rs := testredis.Start(t) // a private redis-server, never 6379
	client := newSessionTestClient(t, rs.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	redisURL := "redis://" + rs.Addr
	// The old app signs with the old secret, Herald already has [new, old]; a rogue app
	// shares the Redis but signs with a secret Herald does not have; a rotated app
	// signs with the new one, and uses its own cookie name and key prefix.
	apps := make([]*expressApp, 3)
	var wg sync.WaitGroup
	for i, env := range [][]string{
		{"SESSION_SECRET=old secret"},
		{"SESSION_SECRET=rogue secret"},
		{"SESSION_SECRET=new secret,old secret", "SESSION_COOKIE=herald.sid", "SESSION_PREFIX=myapp:sess:"},
	} {
		wg.Go(func() { apps[i] = startExpressApp(t, nodeBin, dir, append(env, "REDIS_URL="+redisURL)) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	oldApp, rogueApp, newApp := apps[0], apps[1], apps[2]

	rotation := []string{"new secret", "old secret"}
	store := mustSessionStore(t, SessionConfig{Secrets: rotation}, client)
	userIDStore := mustSessionStore(t, SessionConfig{Secrets: rotation, UserPath: "userId"}, client)
	newStore := mustSessionStore(t, SessionConfig{CookieName: "herald.sid", Secrets: rotation, Prefix: "myapp:sess:"}, client)

	t.Run("passport user", func(t *testing.T) {
		cookie := oldApp.login(t, `{"user":"42"}`)
		expectUser(t, ctx, store, cookie, "42")
		expectErr(t, ctx, userIDStore, cookie, ErrNoUser)
	})
	t.Run("userId", func(t *testing.T) {
		cookie := oldApp.login(t, `{"user":"42","as":"userId"}`)
		expectUser(t, ctx, userIDStore, cookie, "42")
		expectErr(t, ctx, store, cookie, ErrNoUser)
	})
	t.Run("numeric ids", func(t *testing.T) {
		expectUser(t, ctx, store, oldApp.login(t, `{"user":42}`), "42")
		expectUser(t, ctx, userIDStore, oldApp.login(t, `{"user":9007199254740991,"as":"userId"}`), "9007199254740991")
		expectUser(t, ctx, store, oldApp.login(t, `{"user":-3}`), "-3")
	})
	t.Run("new secret, own name and prefix", func(t *testing.T) {
		cookie := newApp.login(t, `{"user":"7"}`)
		if !strings.HasPrefix(cookie, "herald.sid=s%3A") {
			t.Fatalf("cookie %q", cookie)
		}
		expectUser(t, ctx, newStore, cookie, "7")
		old := mustSessionStore(t, SessionConfig{CookieName: "herald.sid", Secrets: []string{"old secret"}, Prefix: "myapp:sess:"}, client)
		expectErr(t, ctx, old, cookie, ErrBadSignature)
	})
	t.Run("unknown secret", func(t *testing.T) {
		cookie := rogueApp.login(t, `{"user":"42"}`)
		if u := rogueApp.me(t, cookie).User; u == nil || *u != "42" {
			t.Fatalf("the rogue app itself does not know its session: %v", u)
		}
		expectErr(t, ctx, store, cookie, ErrBadSignature) // although sess:<id> is in Redis
	})
	t.Run("logout", func(t *testing.T) {
		cookie := oldApp.login(t, `{"user":"42"}`)
		expectUser(t, ctx, store, cookie, "42")
		oldApp.post(t, "/logout", cookie, "")
		expectErr(t, ctx, store, cookie, ErrNoSession)
		if u := oldApp.me(t, cookie).User; u != nil {
			t.Fatalf("Express still knows the user after logout: %q", *u)
		}
	})
	t.Run("expired", func(t *testing.T) {
		cookie := oldApp.login(t, `{"user":"42"}`)
		sid := oldApp.me(t, cookie).SID
		key := "sess:" + sid
		raw, err := client.Do(ctx, client.B().Get().Key(key).Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		var sess map[string]any
		if err := json.Unmarshal([]byte(raw), &sess); err != nil {
			t.Fatal(err)
		}
		if _, ok := sess["cookie"].(map[string]any)["expires"].(string); !ok {
			t.Fatalf("connect-redis wrote no cookie.expires string: %s", raw)
		}
		// As if the key had outlived its cookie (connect-redis with disableTTL, or a
		// custom ttl): KEEPTTL leaves Redis's expiry alone.
		sess["cookie"].(map[string]any)["expires"] = time.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")
		b, _ := json.Marshal(sess)
		if err := client.Do(ctx, client.B().Set().Key(key).Value(string(b)).Keepttl().Build()).Error(); err != nil {
			t.Fatal(err)
		}
		expectErr(t, ctx, store, cookie, ErrNoSession)
		// express-session does not check expires when a store returns a session (only its
		// MemoryStore does), so Express itself still takes it. Herald is stricter.
		if u := oldApp.me(t, cookie).User; u == nil || *u != "42" {
			t.Fatalf("Express refused the expired session (%v): update the comment above", u)
		}
	})
	t.Run("same verdict as Express", func(t *testing.T) {
		testSameVerdict(t, ctx, client, oldApp, mustSessionStore(t, SessionConfig{Secrets: []string{"old secret"}}, client))
	})
}

// testSameVerdict sends odd Cookie headers to the app's GET /me and to store: both must
// find the same user, or both none.
func testSameVerdict(t *testing.T, ctx context.Context, client rueidis.Client, app *expressApp, store *SessionStore) {
	cookie := app.login(t, `{"user":"42"}`)
	value := strings.TrimPrefix(cookie, "connect.sid=")
	decoded := strings.NewReplacer("%3A", ":", "%2B", "+", "%2F", "/").Replace(value)
	// A session whose id has a non-ASCII character: Node reads the header byte 0xe9 as
	// U+00E9, so it signs and looks up the UTF-8 "é".
	latinSid := "café-" + time.Now().Format("150405.000000")
	expires := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	sess := `{"cookie":{"originalMaxAge":3600000,"expires":"` + expires + `","httpOnly":true,"path":"/"},"passport":{"user":"7"}}`
	if err := client.Do(ctx, client.B().Set().Key("sess:"+latinSid).Value(sess).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	latinMac := sessionSign(latinSid, []byte("old secret"))
	latinRaw := strings.Replace(latinSid, "é", "\xe9", 1)

	headers := []struct {
		name   string
		header string
		ok     bool // both find the user
	}{
		{"as set", cookie, true},
		{"not encoded", "connect.sid=" + decoded, true},
		{"quoted", `connect.sid="` + value + `"`, true},
		{"spaces and tabs", " \tconnect.sid \t=\t " + value + " ;", true},
		{"no spaces", "a=1;connect.sid=" + value + ";b=2", true},
		{"pair without =", "junk; connect.sid=" + value, true},
		{"empty pairs", ";;connect.sid=" + value, true},
		{"bad first wins", "connect.sid=s%3Abad.sig; connect.sid=" + value, false},
		{"valid first wins", "connect.sid=" + value + "; connect.sid=s%3Abad.sig", true},
		{"empty first wins", "connect.sid=; connect.sid=" + value, false},
		{"name case", "Connect.sid=" + value, false},
		{"bad escape", "connect.sid=" + value + "%ZZ", false},
		{"truncated escape", "connect.sid=" + value + "%", false},
		{"escape not UTF-8", "connect.sid=" + value + "%FF", false},
		{"lower-case escapes", "connect.sid=" + strings.ReplaceAll(value, "%3A", "%3a"), true},
		{"all escaped", "connect.sid=" + escapeAll(decoded), true},
		{"padded mac", "connect.sid=" + value + "%3D", false},
		{"opening quote", `connect.sid="` + value, false},
		{"closing quote", "connect.sid=" + value + `"`, false},
		{"inside a quoted value", `a="x; connect.sid=` + value + `"`, false},
		{"value starts with =", "connect.sid==" + value, false},
		{"no s: prefix", "connect.sid=" + decoded[2:], false},
		{"truncated mac", "connect.sid=" + value[:len(value)-1], false},
		{"latin-1 byte", "connect.sid=s:" + latinRaw + "." + latinMac, true},
		{"latin-1 byte beside escapes", "connect.sid=s%3A" + latinRaw + "." + latinMac, true},
		{"latin-1 as UTF-8 escapes", "connect.sid=" + sessionEncodeURIComponent("s:"+latinSid+"."+latinMac), true},
		{"raw UTF-8 is two Latin-1 characters", "connect.sid=s:" + latinSid + "." + latinMac, false},
	}
	for _, tt := range headers {
		t.Run(tt.name, func(t *testing.T) {
			t.Logf("Cookie: %q", tt.header)
			express := app.me(t, tt.header).User
			got, err := store.User(ctx, tt.header)
			switch {
			case express == nil && err == nil:
				t.Fatalf("Express finds no user, Herald finds %q", got)
			case express != nil && err != nil:
				t.Fatalf("Express finds %q, Herald: %v", *express, err)
			case express != nil && got != *express:
				t.Fatalf("Express finds %q, Herald %q", *express, got)
			case tt.ok != (err == nil):
				t.Fatalf("both found user %q, %v; want found=%v", got, err, tt.ok)
			}
		})
	}
}

func checkSignatureVectors(t *testing.T, nodeBin, dir string) {
	cmd := exec.Command(nodeBin, "app.mjs", "vectors")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node app.mjs vectors: %v\n%s", err, stderr.String())
	}
	var got []signatureVector
	for line := range strings.Lines(string(out)) {
		var v struct{ Sid, Secret, Signed, Header string }
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, signatureVector{v.Sid, v.Secret, v.Signed, v.Header})
	}
	if fmt.Sprint(got) != fmt.Sprint(signatureVectors) {
		t.Fatalf("node app.mjs vectors printed\n%v\nbut the test has\n%v", got, signatureVectors)
	}
}

func mustSessionStore(t *testing.T, cfg SessionConfig, client rueidis.Client) *SessionStore {
	t.Helper()
	s, err := NewSessionStore(cfg, client)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func expectUser(t *testing.T, ctx context.Context, s *SessionStore, cookie, want string) {
	t.Helper()
	if got, err := s.User(ctx, cookie); err != nil || got != want {
		t.Fatalf("User(%q) = %q, %v; want %q", cookie, got, err, want)
	}
}

func expectErr(t *testing.T, ctx context.Context, s *SessionStore, cookie string, want error) {
	t.Helper()
	if got, err := s.User(ctx, cookie); !errors.Is(err, want) {
		t.Fatalf("User(%q) = %q, %v; want %v", cookie, got, err, want)
	}
}

// expressApp is a running interop/session/app.mjs.
type expressApp struct {
	base   string
	http   *http.Client
	stderr *sessionTailBuffer
}

// startExpressApp runs app.mjs with env and waits for "listening PORT". The app stops
// when its stdin closes; cleanup closes it, waits, and kills the app if it lingers.
func startExpressApp(t *testing.T, nodeBin, dir string, env []string) *expressApp {
	cmd := exec.Command(nodeBin, "app.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	app := &expressApp{
		http:   &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
		stderr: &sessionTailBuffer{},
	}
	cmd.Stderr = app.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Error(err)
		return nil
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Error(err)
		return nil
	}
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return nil
	}
	port := make(chan string, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				port <- p
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		waited := make(chan error, 1)
		go func() {
			<-readDone // Wait closes stdout: read it to the end first
			waited <- cmd.Wait()
		}()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
	})
	select {
	case p := <-port:
		app.base = "http://" + net.JoinHostPort("127.0.0.1", p)
		return app
	case <-readDone:
		t.Errorf("app.mjs %v exited before listening:\n%s", env, app.stderr)
	case <-time.After(30 * time.Second):
		t.Errorf("app.mjs %v did not print \"listening PORT\" in 30 s:\n%s", env, app.stderr)
	}
	return nil
}

// post sends a POST with a JSON body and the Cookie header, and returns the response's
// session cookie as a browser sends it back ("name=value"), if it set one.
func (a *expressApp) post(t *testing.T, path, cookie, body string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp := a.do(t, req)
	for _, sc := range resp.Header.Values("Set-Cookie") {
		pair, _, _ := strings.Cut(sc, ";")
		return pair
	}
	return ""
}

// login logs in with body ({"user": ..., "as": ...}) and returns the session cookie.
func (a *expressApp) login(t *testing.T, body string) string {
	t.Helper()
	cookie := a.post(t, "/login", "", body)
	if cookie == "" {
		t.Fatal("POST /login set no cookie")
	}
	return cookie
}

type meReply struct {
	SID  string  `json:"sid"`
	User *string `json:"user"`
}

// me asks the app who the Cookie header is (GET /me).
func (a *expressApp) me(t *testing.T, cookie string) meReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.base+"/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", cookie)
	resp := a.do(t, req)
	var r meReply
	if err := json.Unmarshal(resp.body, &r); err != nil {
		t.Fatalf("GET /me: %v: %s", err, resp.body)
	}
	return r
}

type appResponse struct {
	*http.Response
	body []byte
}

func (a *expressApp) do(t *testing.T, req *http.Request) appResponse {
	t.Helper()
	resp, err := a.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", req.Method, req.URL.Path, err, a.stderr)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %v: %s\n%s", req.Method, req.URL.Path, resp.Status, err, body, a.stderr)
	}
	return appResponse{resp, body}
}

// sessionTailBuffer keeps the last 32 KiB written to it, for error messages. It is
// safe for concurrent use (os/exec writes from its own goroutine).
type sessionTailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *sessionTailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - 32<<10; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *sessionTailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
