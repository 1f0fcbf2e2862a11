module github.com/heraldhq/herald

go 1.26.8

require (
	github.com/MicahParks/keyfunc/v3 v3.9.1
	github.com/caarlos0/env/v11 v11.4.2
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/lxzan/gws v1.9.1
	github.com/redis/rueidis v1.0.79
	github.com/vmihailenco/msgpack/v5 v5.4.1
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.47.0
	golang.org/x/time v0.15.0
)

require (
	github.com/MicahParks/jwkset v0.11.4 // indirect
	github.com/klauspost/compress v1.17.9 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
)
