package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// JWTConfig configures JWT verification. Exactly one key source may be set: Secret
// (HS256/384/512), PublicKeyPEM (RS*, PS*, ES*, EdDSA according to the key), or JWKSURL
// (the asymmetric algorithms, keys fetched and refreshed in the background). "none" is
// never accepted, nor an HMAC token against a public key (algorithm confusion).
type JWTConfig struct {
	Secret       []byte
	PublicKeyPEM []byte
	JWKSURL      string
	// Issuer and Audience, when set, must match the token's iss and aud.
	Issuer, Audience string
	// UserClaim names the claim holding the user id. Empty means "sub".
	UserClaim string
	// Leeway tolerates clock skew on exp and nbf. Zero means none.
	Leeway time.Duration
	// JWKSRefresh is how often the JWKS is refetched; a token with an unknown kid
	// triggers a refetch at most once per JWKSRefresh/12. Zero means 1h.
	JWKSRefresh time.Duration
}

// verifier checks tokens.
type verifier struct {
	parser    *jwt.Parser
	keyfunc   jwt.Keyfunc
	userClaim string
	cancel    context.CancelFunc // stops the JWKS refresh
}

func (c JWTConfig) configured() bool {
	return len(c.Secret) > 0 || len(c.PublicKeyPEM) > 0 || c.JWKSURL != ""
}

func newVerifier(c JWTConfig, log *slog.Logger) (*verifier, error) {
	sources := 0
	for _, set := range []bool{len(c.Secret) > 0, len(c.PublicKeyPEM) > 0, c.JWKSURL != ""} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		return nil, errors.New("auth: set only one JWT key source: secret, public key or JWKS URL")
	}
	v := &verifier{userClaim: c.UserClaim}
	if v.userClaim == "" {
		v.userClaim = "sub"
	}
	var methods []string
	switch {
	case len(c.Secret) > 0:
		if len(c.Secret) < 32 {
			return nil, errors.New("auth: the JWT secret must be at least 32 bytes (HS256 needs 256 bits)")
		}
		methods = []string{"HS256", "HS384", "HS512"}
		secret := c.Secret
		v.keyfunc = func(*jwt.Token) (any, error) { return secret, nil }
	case len(c.PublicKeyPEM) > 0:
		key, algs, err := parsePublicKey(c.PublicKeyPEM)
		if err != nil {
			return nil, err
		}
		methods = algs
		v.keyfunc = func(*jwt.Token) (any, error) { return key, nil }
	case c.JWKSURL != "":
		refresh := c.JWKSRefresh
		if refresh <= 0 {
			refresh = time.Hour
		}
		ctx, cancel := context.WithCancel(context.Background())
		k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{c.JWKSURL}, keyfunc.Override{
			RefreshInterval:   refresh,
			RefreshUnknownKID: rate.NewLimiter(rate.Every(refresh/12), 1),
			HTTPTimeout:       10 * time.Second,
			RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
				return func(_ context.Context, err error) {
					log.Warn("auth: JWKS refresh failed", "url", u, "err", err.Error())
				}
			},
		})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("auth: JWKS %s: %w", c.JWKSURL, err)
		}
		v.cancel = cancel
		methods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
		v.keyfunc = k.Keyfunc
	default:
		return nil, errors.New("auth: no JWT key source")
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithLeeway(c.Leeway), jwt.WithIssuedAt()}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// parsePublicKey reads a PEM public key and the algorithms it can verify.
func parsePublicKey(pem []byte) (any, []string, error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		return k, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	}
	if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
		switch k.Curve.Params().BitSize {
		case 256:
			return k, []string{"ES256"}, nil
		case 384:
			return k, []string{"ES384"}, nil
		case 521:
			return k, []string{"ES512"}, nil
		}
		return nil, nil, fmt.Errorf("auth: unsupported EC curve %s", k.Curve.Params().Name)
	}
	if k, err := jwt.ParseEdPublicKeyFromPEM(pem); err == nil {
		return k, []string{"EdDSA"}, nil
	}
	return nil, nil, errors.New("auth: the public key is not an RSA, EC or Ed25519 key in PEM")
}

// verify checks a token and returns the user id and the claims.
func (v *verifier) verify(token string) (string, jwt.MapClaims, time.Time, error) {
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyfunc); err != nil {
		return "", nil, time.Time{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	var user string
	switch u := claims[v.userClaim].(type) {
	case string:
		user = u
	case float64:
		user = strconv.FormatFloat(u, 'f', -1, 64)
	}
	if user == "" {
		return "", nil, time.Time{}, fmt.Errorf("%w: no %q claim", ErrInvalidToken, v.userClaim)
	}
	var exp time.Time
	if e, err := claims.GetExpirationTime(); err == nil && e != nil {
		exp = e.Time
	}
	return user, claims, exp, nil
}

func (v *verifier) close() {
	if v != nil && v.cancel != nil {
		v.cancel()
	}
}
