// Package fluxredis runs a Liveflux application on several processes
// (nodes) that share one Redis: Store keeps component instances in Redis, so
// any node can act on any instance, and Backplane carries WebSocket updates
// and Broadcast payloads between the nodes over Redis pub/sub, so a client
// sees what happens on every node. No sticky sessions are needed.
//
// The package is named fluxredis, not redis, so that it can be imported
// next to github.com/redis/go-redis/v9 without renaming either:
//
//	import (
//		"github.com/go-liveflux/liveflux"
//		fluxredis "github.com/go-liveflux/liveflux/redis"
//		"github.com/redis/go-redis/v9"
//	)
//
//	rdb := redis.NewClient(&redis.Options{
//		Addr:                  "127.0.0.1:6379",
//		DialTimeout:           time.Second,
//		ReadTimeout:           time.Second,
//		WriteTimeout:          time.Second,
//		PoolTimeout:           2 * time.Second,
//		MaxRetries:            1,
//		DialerRetries:         1,
//		ContextTimeoutEnabled: true,
//	})
//	ws := liveflux.NewWebSocketHandler(
//		fluxredis.NewStore(rdb),
//		liveflux.WithWebSocketBackplane(fluxredis.NewBackplane(rdb)),
//	)
//	defer ws.Close() // also ends the backplane subscription
//
// # What a component must do to be stored
//
// Instances are encoded with liveflux.EncodeComponent: the component's
// state is what encoding/json writes, so keep it in exported fields (or
// implement json.Marshaler and json.Unmarshaler). Unexported fields, such as
// dependencies a factory injects, are not stored; the factory registered for
// the kind sets them again whenever an instance is decoded. Every node must
// register the same kinds (WithRegistry, default liveflux.DefaultRegistry).
//
// # Failures
//
// Every method returns an error rather than wait when Redis cannot be
// reached, after at most the client's own timeouts and retries (set them
// short, as above: the defaults of go-redis retry for several seconds). The
// handlers answer such an action with 500 over HTTP and an error frame over
// WebSocket; the instance is unchanged. go-redis reconnects by itself, so
// the nodes work again as soon as Redis does, without a restart. A Redis
// that loses its data (restarted without persistence) forgets the
// instances: their IDs then answer 404 and the JavaScript client mounts its
// components again.
package fluxredis
