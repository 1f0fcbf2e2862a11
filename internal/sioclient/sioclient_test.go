package sioclient

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func serve(t *testing.T, h http.Handler, method string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "/socket.io/socket.io.min.js", nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestBundle(t *testing.T) {
	onDisk, err := os.ReadFile("socket.io.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(bundle, []byte("/*!\n * Socket.IO v"+Version+"\n")) || !bytes.Equal(bundle, onDisk) {
		t.Fatalf("the embedded bundle is not socket.io-client %s: %.60q", Version, bundle)
	}
	if !bytes.HasSuffix(bytes.TrimSpace(bundle), []byte("//# sourceMappingURL="+SourceMapName)) {
		t.Fatal("the bundle does not name its source map")
	}
	h := NewHandler(BundleName)
	rec := serve(t, h, http.MethodGet)
	hdr := rec.Header()
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), bundle) || hdr.Get("Content-Type") != "application/javascript; charset=utf-8" ||
		hdr.Get("ETag") != `"4.8.4"` || hdr.Get("Cache-Control") != CacheControl || hdr.Get("Content-Encoding") != "" ||
		hdr.Get("Vary") != "Accept-Encoding" || hdr.Get("Content-Length") != "47295" {
		t.Fatalf("GET: %d %v", rec.Code, hdr)
	}
	// gzip when accepted, decoding to the same bytes, with its own ETag.
	rec = serve(t, h, http.MethodGet, "Accept-Encoding", "deflate, gzip;q=0.8")
	if rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("ETag") != `"4.8.4-gzip"` || rec.Body.Len() >= len(bundle)/2 {
		t.Fatalf("gzip: %v, %d bytes", rec.Header(), rec.Body.Len())
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, bundle) {
		t.Fatalf("gunzip: %v", err)
	}
	// Revalidation: 304 for the current ETag, strong or weak; 200 for an old one.
	for _, tc := range []struct {
		hdr  []string
		code int
	}{
		{[]string{"If-None-Match", `"4.8.4"`}, http.StatusNotModified},
		{[]string{"If-None-Match", `W/"4.8.4"`}, http.StatusNotModified},
		{[]string{"If-None-Match", `"4.7.0", "4.8.4"`}, http.StatusNotModified},
		{[]string{"If-None-Match", `"4.8.4-gzip"`, "Accept-Encoding", "gzip"}, http.StatusNotModified},
		{[]string{"If-None-Match", `"4.7.0"`}, http.StatusOK},
		{[]string{"If-None-Match", `"4.8.4-gzip"`}, http.StatusOK}, // the client no longer takes gzip
		{[]string{"Range", "bytes=0-2"}, http.StatusPartialContent},
	} {
		if rec := serve(t, h, http.MethodGet, tc.hdr...); rec.Code != tc.code {
			t.Errorf("%q: %d, want %d", tc.hdr, rec.Code, tc.code)
		}
	}
	if rec := serve(t, h, http.MethodHead); rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "47295" {
		t.Fatalf("HEAD: %d %d %v", rec.Code, rec.Body.Len(), rec.Header())
	}
	m := NewHandler(SourceMapName)
	if rec := serve(t, m, http.MethodGet); rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" ||
		!strings.HasPrefix(rec.Body.String(), `{"version":3`) {
		t.Fatalf("map: %d %v %.40q", rec.Code, rec.Header(), rec.Body.String())
	}
	if NewHandler("socket.io.js") != nil {
		t.Fatal("a handler for a file not shipped")
	}
}

func TestPattern(t *testing.T) {
	for path, want := range map[string]string{
		"/socket.io/": "GET /socket.io/socket.io.min.js",
		"/rt":         "GET /rt/socket.io.min.js",
	} {
		if got := Pattern(path, BundleName); got != want {
			t.Errorf("Pattern(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                      false,
		"gzip":                  true,
		"GZIP":                  true,
		"br, gzip, deflate":     true,
		"gzip;q=0":              false,
		"gzip; q=0.000":         false,
		"gzip;q=0.5":            true,
		"deflate, br":           false,
		"x-gzip":                false,
		"identity;q=1, *;q=0.5": false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}
