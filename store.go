package liveflux

import (
	"context"
)

// Store keeps component instances between requests, keyed by component ID.
//
// The handlers touch an instance only through Update, which gives one caller
// at a time exclusive access to it; that is how actions on one instance are
// serialized whatever the transport. A store that keeps state outside the
// process (Redis, SQL) decodes the instance in Update, runs fn on it and
// writes it back atomically with respect to other Updates of the same ID (a
// lock or an optimistic transaction that reruns fn), so that concurrent
// actions from several processes lose nothing. Such a store creates the
// instance with a Registry (kind → factory) and decodes its exported fields;
// Base's kind, ID and revision are its metadata.
//
// Every method returns an error wrapping ErrNotFound for an unknown or
// expired ID. Implementations must be safe for concurrent use.
type Store interface {
	// Get returns a copy of the instance, for reading. Changes to the copy
	// are not stored; use Update to change an instance.
	Get(ctx context.Context, id string) (Component, error)
	// Set stores c under c.GetID(), replacing any instance with that ID.
	Set(ctx context.Context, c Component) error
	// Update runs fn with exclusive access to the instance and stores what
	// fn did to it. When fn returns an error, the instance keeps the state
	// it had before the call and Update returns that error.
	Update(ctx context.Context, id string, fn func(Component) error) error
	// Delete removes the instance. Deleting an unknown ID is not an error.
	Delete(ctx context.Context, id string) error
}

func notFound(id string) error {
	return &notFoundError{id: id}
}

type notFoundError struct{ id string }

func (e *notFoundError) Error() string { return "liveflux: component " + e.id + " not found" }
func (e *notFoundError) Unwrap() error { return ErrNotFound }
