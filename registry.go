package liveflux

import (
	"fmt"
	"sync"
)

// Registry maps component kinds to the factories that create them.
// It is safe for concurrent use.
type Registry struct {
	mu        sync.RWMutex
	factories map[string]func() Component
}

// NewRegistry returns an empty registry. Pass it to a handler with
// WithRegistry to keep components apart from DefaultRegistry (in tests, or
// when one process serves several apps).
func NewRegistry() *Registry {
	return &Registry{factories: make(map[string]func() Component)}
}

// DefaultRegistry is the registry used by RegisterByKind and by handlers
// created without WithRegistry, in the way http.DefaultServeMux serves
// http.Handle.
var DefaultRegistry = NewRegistry()

// RegisterByKind registers factory under kind in DefaultRegistry.
func RegisterByKind(kind string, factory func() Component) error {
	return DefaultRegistry.Register(kind, factory)
}

// Register makes kind mountable: factory must return a new, zero instance
// (typically a pointer to a struct embedding Base) on every call.
// It fails when kind is empty, factory is nil, or kind is already taken.
func (r *Registry) Register(kind string, factory func() Component) error {
	if kind == "" {
		return fmt.Errorf("liveflux: register: %w", ErrEmptyKind)
	}
	if factory == nil {
		return fmt.Errorf("liveflux: register %q: nil factory", kind)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.factories[kind]; dup {
		return fmt.Errorf("liveflux: register %q: %w", kind, ErrDuplicateKind)
	}
	r.factories[kind] = factory
	return nil
}

// New returns a fresh instance of kind with its kind set, or ErrUnknownKind.
func (r *Registry) New(kind string) (Component, error) {
	r.mu.RLock()
	f := r.factories[kind]
	r.mu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("liveflux: kind %q: %w", kind, ErrUnknownKind)
	}
	c := f()
	if c == nil {
		return nil, fmt.Errorf("liveflux: kind %q: factory returned nil", kind)
	}
	c.SetKind(kind)
	return c, nil
}
