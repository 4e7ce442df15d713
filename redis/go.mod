module github.com/go-liveflux/liveflux/redis

go 1.25.0

replace github.com/go-liveflux/liveflux => ../

require (
	github.com/go-liveflux/liveflux v0.0.0-00010101000000-000000000000
	github.com/gorilla/websocket v1.5.3
	github.com/redis/go-redis/v9 v9.22.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.11.0 // indirect
	golang.org/x/sys v0.30.0 // indirect
	golang.org/x/time v0.15.0 // indirect
)
