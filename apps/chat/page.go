package chat

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// pageData fills web/index.html.
type pageData struct {
	Path    string // Engine.IO path, e.g. "/socket.io/"
	Login   bool   // the demo login is on
	MaxText int
}

// ClientScript returns the URL of the socket.io-client bundle under the path.
func (p pageData) ClientScript() string {
	return strings.TrimSuffix(p.Path, "/") + "/socket.io.min.js"
}

// renderPage renders index.html once, at Mount.
func renderPage(d pageData) ([]byte, error) {
	t, err := template.ParseFS(webFS, "web/index.html")
	if err != nil {
		return nil, fmt.Errorf("chat: page template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("chat: page template: %w", err)
	}
	return b.Bytes(), nil
}

// securityHeaders are sent with the page and its assets: scripts, styles and
// connections only from the node itself.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Revalidate each time: the demo changes with the binary, and the files are small.
	h.Set("Cache-Control", "no-cache")
}

// staticHandler serves body with its content type and an ETag (its hash), so a
// revalidation costs a 304.
func staticHandler(body []byte, contentType string) http.HandlerFunc {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	}
}

// asset returns the handler of an embedded file of web/.
func asset(name, contentType string) (http.HandlerFunc, error) {
	body, err := fs.ReadFile(webFS, name)
	if err != nil {
		return nil, fmt.Errorf("chat: %w", err)
	}
	return staticHandler(body, contentType), nil
}
