module github.com/go-liveflux/liveflux/bench

go 1.25.0

require github.com/go-liveflux/liveflux v0.0.0-00010101000000-000000000000

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	golang.org/x/time v0.15.0 // indirect
)

replace github.com/go-liveflux/liveflux => ../
