// Package sioclient serves the official socket.io-client browser bundle, the way
// Node's socket.io does with serveClient (its default): GET <path>socket.io.min.js
// and its source map, so a page served by anyone can load the client from the
// Herald node it talks to.
//
// The bundle is socket.io-client's dist/socket.io.min.js, pinned through npm by the
// package.json and package-lock.json beside this file, and committed here with its
// source map and LICENSE; test.sh checks that the committed copies are byte for byte
// the npm package's. To move to another version: change the pin, run npm install in
// this directory, copy the two dist files and LICENSE here, and update Version.
package sioclient

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"net/http"
	"strings"
	"time"
)

// Version is the socket.io-client version of the committed bundle.
const Version = "4.8.4"

// Names of the served files, relative to the Engine.IO path (socket.io serves them
// at /socket.io/socket.io.min.js and /socket.io/socket.io.min.js.map).
const (
	BundleName    = "socket.io.min.js"
	SourceMapName = "socket.io.min.js.map"
)

// CacheControl is sent with both files. Node's socket.io sends max-age=0 and relies
// on its ETag alone; Herald lets browsers keep the bundle for a day, then revalidate
// it with the ETag (a 304 when the version did not change). The bundle's URL has no
// version in it, so a longer lifetime would keep an old client after an upgrade.
const CacheControl = "public, max-age=86400"

var (
	//go:embed socket.io.min.js
	bundle []byte
	//go:embed socket.io.min.js.map
	sourceMap []byte
)

// Handler serves one of the two files. Mount it at Pattern(path, name).
type Handler struct {
	contentType string
	plain, gz   representation
}

// representation is the file as sent, identity or gzip-encoded, with its ETag.
type representation struct {
	body []byte
	etag string
}

// NewHandler returns the handler of the file called name (BundleName or
// SourceMapName), or nil for any other name. It compresses the file once, here.
func NewHandler(name string) *Handler {
	var h Handler
	switch name {
	case BundleName:
		h = Handler{contentType: "application/javascript; charset=utf-8", plain: representation{body: bundle}}
	case SourceMapName:
		h = Handler{contentType: "application/json; charset=utf-8", plain: representation{body: sourceMap}}
	default:
		return nil
	}
	// The ETag is socket.io's, the client version quoted (socket.io lib/index.ts
	// serve); the gzip form is another representation, so it gets its own.
	h.plain.etag = `"` + Version + `"`
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
	_, _ = zw.Write(h.plain.body)                            // a bytes.Buffer does not fail
	_ = zw.Close()
	h.gz = representation{body: buf.Bytes(), etag: `"` + Version + `-gzip"`}
	return &h
}

// Pattern returns the http.ServeMux pattern of file name under the Engine.IO path:
// "GET /socket.io/socket.io.min.js" for "/socket.io/". It is more specific than the
// Engine.IO handler's "/socket.io/", so the mux sends these requests here. GET
// patterns match HEAD too.
func Pattern(path, name string) string {
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	return "GET " + path + name
}

// ServeHTTP answers with the file, gzip-encoded when the client accepts it (as
// socket.io does), with a 304 when If-None-Match names its ETag, and with ranges.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := h.plain
	hdr := w.Header()
	hdr.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		rep = h.gz
		hdr.Set("Content-Encoding", "gzip")
	}
	hdr.Set("Cache-Control", CacheControl)
	hdr.Set("ETag", rep.etag)
	hdr.Set("Content-Type", h.contentType)
	hdr.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers If-None-Match from the ETag header, HEAD, and Range.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(rep.body))
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip (a q=0 refuses it).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
