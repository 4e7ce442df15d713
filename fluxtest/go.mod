module github.com/go-liveflux/liveflux/fluxtest

go 1.25.0

replace github.com/go-liveflux/liveflux => ../

require (
	github.com/andybalholm/cascadia v1.3.5
	github.com/go-liveflux/liveflux v0.0.0-00010101000000-000000000000
	github.com/gorilla/websocket v1.5.3
	golang.org/x/net v0.58.0
)

require golang.org/x/time v0.15.0 // indirect
