package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldhq/herald/internal/testclient"
)

// fakeAPI records the last request and answers with status and body.
type fakeAPI struct {
	status int
	answer string
	path   string
	auth   string
	body   map[string]any
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.path, f.auth = r.Method+" "+r.URL.Path, r.Header.Get("Authorization")
	b, _ := io.ReadAll(r.Body)
	f.body = nil
	_ = json.Unmarshal(b, &f.body)
	w.Header().Set("X-Request-Id", "rid-1")
	w.WriteHeader(f.status)
	_, _ = io.WriteString(w, f.answer)
}

func TestEmitCommand(t *testing.T) {
	api := &fakeAPI{status: 202, answer: `{"id":"abc"}` + "\n"}
	hs := httptest.NewServer(api)
	defer hs.Close()
	run := func(env []string, args ...string) (int, string, string) {
		var out, errs bytes.Buffer
		code := runEmit(args, env, &out, &errs)
		return code, out.String(), errs.String()
	}
	code, out, errs := run([]string{"HERALD_API_KEY=k1"}, "-url", hs.URL+"/", "-event", "order.shipped", "-data", `{"order": 7}`,
		"-to-user", "42", "-to-user", "43", "-except-room", "muted", "-except-socket", "s1")
	if code != 0 || out != `{"id":"abc"}`+"\n" || errs != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	got, _ := json.Marshal(api.body)
	want := `{"data":{"order":7},"event":"order.shipped","except":{"rooms":["muted"],"sockets":["s1"]},"namespace":"/","to":{"users":["42","43"]}}`
	if api.path != "POST /api/v1/emit" || api.auth != "Bearer k1" || string(got) != want {
		t.Fatalf("request %s %q %s", api.path, api.auth, got)
	}
	// -key and a full URL; -to-all; no data.
	if code, _, _ := run(nil, "-url", hs.URL+"/api/v1/emit", "-key", "k2", "-namespace", "/chat", "-event", "e", "-to-all"); code != 0 ||
		api.auth != "Bearer k2" || api.body["namespace"] != "/chat" || api.body["data"] != nil || api.body["to"].(map[string]any)["all"] != true {
		t.Fatalf("exit %d, request %q %v", code, api.auth, api.body)
	}
	// -wait asks for the delivery counts, with the node's wait bounded by -wait-timeout.
	if code, _, _ := run([]string{"HERALD_API_KEY=k"}, "-url", hs.URL, "-event", "e", "-to-room", "r", "-wait", "-wait-timeout", "250ms"); code != 0 ||
		api.body["wait"] != true || api.body["timeout"] != 250.0 {
		t.Fatalf("-wait: exit %d, request %v", code, api.body)
	}
	if code, _, _ := run([]string{"HERALD_API_KEY=k"}, "-url", hs.URL, "-event", "e", "-to-all"); code != 0 || api.body["wait"] != nil || api.body["timeout"] != nil {
		t.Fatalf("without -wait: exit %d, request %v", code, api.body)
	}
	// An HTTP error: the answer is printed, the exit code is 1.
	api.status, api.answer = 401, `{"error":"missing or wrong API key (Authorization: Bearer <key>)"}`
	code, out, errs = run([]string{"HERALD_API_KEY=bad"}, "-url", hs.URL, "-event", "e", "-to-authenticated")
	if code != 1 || !strings.Contains(out, "missing or wrong API key") || !strings.Contains(errs, "401 Unauthorized (request rid-1)") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// Unreachable API.
	hs2 := httptest.NewServer(http.NotFoundHandler())
	hs2.Close()
	if code, _, errs := run([]string{"HERALD_API_KEY=k"}, "-url", hs2.URL, "-event", "e", "-to-all"); code != 1 || errs == "" {
		t.Fatalf("unreachable: exit %d %q", code, errs)
	}
	// Usage errors exit 2 before any request.
	api.path = ""
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"HERALD_API_KEY=k"}, []string{"-to-all"}, "-event is required"},
		{nil, []string{"-event", "e", "-to-all"}, "no API key"},
		{[]string{"HERALD_API_KEY=k"}, []string{"-event", "e"}, "give exactly one of"},
		{[]string{"HERALD_API_KEY=k"}, []string{"-event", "e", "-to-all", "-to-room", "r"}, "give exactly one of"},
		{[]string{"HERALD_API_KEY=k"}, []string{"-event", "e", "-to-all", "-data", "{x"}, "-data is not valid JSON"},
		{[]string{"HERALD_API_KEY=k"}, []string{"-event", "e", "-to-all", "stray"}, `unexpected argument "stray"`},
		{nil, []string{"-bogus"}, "flag provided but not defined"},
		{[]string{"HERALD_API_KEY=k"}, []string{"-event", "e", "-to-all", "-wait-timeout", "1s"}, "-wait-timeout needs -wait"},
		{[]string{"HERALD_API_KEY=k"}, []string{"-event", "e", "-to-all", "-wait", "-wait-timeout", "1500us"}, "whole number of milliseconds"},
	} {
		code, _, errs := run(tc.env, append([]string{"-url", hs.URL}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errs, tc.want)
		}
	}
	if api.path != "" {
		t.Fatalf("a usage error sent a request: %s", api.path)
	}
	if code, _, errs := run(nil, "-help"); code != 0 || !strings.Contains(errs, "Usage: herald emit") {
		t.Fatalf("-help: %d %q", code, errs)
	}
}

// TestEmitCommandReachesSocket runs `herald emit` against a real node's API.
func TestEmitCommandReachesSocket(t *testing.T) {
	s, err := loadSettings(nil, []string{"HERALD_API_KEYS=k"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	node, stop, err := newNode(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(node.Handler())
	defer hs.Close()
	defer func() {
		_ = node.Shutdown(context.Background())
		stop()
	}()
	c := testclient.Dial(t, "ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", testclient.Options{})
	testclient.WaitFor(t, func() bool { return node.IO().Of("/").Count() == 1 })
	var out, errs bytes.Buffer
	if code := runEmit([]string{"-url", hs.URL, "-event", "ping-all", "-data", `[1,"two"]`, "-to-all"}, []string{"HERALD_API_KEY=k"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errs.String())
	}
	c.Expect(t, `{"event":"ping-all","data":[1,"two"]}`)
	out.Reset()
	if code := runEmit([]string{"-url", hs.URL, "-event", "counted", "-to-all", "-wait"}, []string{"HERALD_API_KEY=k"}, &out, &errs); code != 0 {
		t.Fatalf("-wait: exit %d: %s %s", code, out.String(), errs.String())
	}
	var d struct{ Sockets, Nodes int }
	if err := json.Unmarshal(out.Bytes(), &d); err != nil || d.Sockets != 1 || d.Nodes != 1 {
		t.Fatalf("-wait printed %q (%v), want one socket on one node", out.String(), err)
	}
	c.Expect(t, `{"event":"counted"}`)
	c.Close()
	testclient.WaitFor(t, func() bool { return node.IO().Of("/").Count() == 0 })
}
