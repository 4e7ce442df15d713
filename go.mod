module github.com/go-liveflux/liveflux

go 1.25.0

require (
	github.com/gorilla/websocket v1.5.3
	golang.org/x/time v0.15.0
)
