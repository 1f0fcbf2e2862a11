package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/api"
)

// A backend sends "order.shipped" to user 42's sockets through a node's API. With
// herald.Config.APIKeys set, a Node mounts the API itself; api.New serves it on its own.
func Example() {
	node, err := herald.New(herald.Config{})
	if err != nil {
		panic(err)
	}
	srv, err := api.New(api.Config{Keys: []string{"s3cret"}, IO: node.IO()})
	if err != nil {
		panic(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	req, _ := http.NewRequest("POST", hs.URL+"/api/v1/emit",
		strings.NewReader(`{"event":"order.shipped","data":{"order":1234},"to":{"users":["42"]}}`))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output: 202
}
