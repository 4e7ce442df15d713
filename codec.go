package liveflux

import (
	"encoding/json"
	"fmt"
)

// encodedComponent is how EncodeComponent writes an instance.
type encodedComponent struct {
	Kind  string `json:"kind"`
	ID    string `json:"id"`
	Rev   uint64 `json:"rev"`
	Owner string `json:"owner,omitempty"`
	Quota string `json:"quota,omitempty"`
	URL   string `json:"url,omitempty"` // the page's URL it last saw (URLComponent)
	// Tracks are the presence lists it is in while watched (Track).
	Tracks []tracking      `json:"tracks,omitempty"`
	State  json.RawMessage `json:"state"`
}

// EncodeComponent encodes an instance for a store that keeps state outside
// the process (Redis, SQL): its kind, ID, revision, session binding and
// quota key (see WithMaxInstancesPerSession), and its state as
// encoding/json writes the component. So a component stored that way keeps
// the state it needs in exported fields, or implements json.Marshaler and
// json.Unmarshaler. Unexported fields, such as dependencies the factory
// injects, are not encoded: the factory sets them again on decode.
func EncodeComponent(c Component) ([]byte, error) {
	state, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("liveflux: encode %s %s: %w", c.GetKind(), c.GetID(), err)
	}
	return json.Marshal(encodedComponent{Kind: c.GetKind(), ID: c.GetID(), Rev: revision(c), Owner: ownerOf(c), Quota: quotaOf(c), URL: urlOf(c), Tracks: tracksOf(c), State: state})
}

// DecodeComponent rebuilds an instance written by EncodeComponent: it
// creates a fresh one with r's factory for the kind and decodes the state
// into it.
func DecodeComponent(r *Registry, data []byte) (Component, error) {
	var e encodedComponent
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("liveflux: decode component: %w", err)
	}
	c, err := r.New(e.Kind)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(e.State, c); err != nil {
		return nil, fmt.Errorf("liveflux: decode %s %s: %w", e.Kind, e.ID, err)
	}
	c.SetKind(e.Kind)
	c.SetID(e.ID)
	setRevision(c, e.Rev)
	if b, ok := c.(baser); ok {
		b.base().owner = e.Owner
		b.base().quota = e.Quota
		b.base().tracks = e.Tracks
		b.base().url = e.URL
	}
	return c, nil
}
