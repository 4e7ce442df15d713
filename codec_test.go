package liveflux

import (
	"context"
	"errors"
	"testing"
)

func TestEncodeDecodeComponent(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	must(t, r.Register("box", func() Component { return &box{} }))
	b := newBox("id1")
	b.N, b.Tags, b.rev, b.owner = 7, []string{"a", "b"}, 42, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	b.quota = "ip:5b1c4e0f2d3a69788b2a1c0d9e8f7a6b"
	data, err := EncodeComponent(b)
	must(t, err)
	c, err := DecodeComponent(r, data)
	must(t, err)
	got := c.(*box)
	if got.GetKind() != "box" || got.GetID() != "id1" || got.N != 7 || len(got.Tags) != 2 || revision(got) != 42 || ownerOf(got) != b.owner || quotaOf(got) != b.quota {
		t.Fatalf("round trip lost state: %+v rev %d", got, revision(got))
	}
	// The decoded instance renders and acts like the original.
	s := NewMemoryStore()
	must(t, s.Set(context.Background(), c))
	if _, err := s.Get(context.Background(), "id1"); err != nil {
		t.Fatal(err)
	}

	if _, err := DecodeComponent(r, []byte(`{"kind":"nope","id":"x","state":{}}`)); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := DecodeComponent(r, []byte(`{"kind":"box","id":"x","state":{"N":"seven"}}`)); err == nil {
		t.Errorf("bad state decoded without error")
	}
	if _, err := DecodeComponent(r, []byte(`not json`)); err == nil {
		t.Errorf("garbage decoded without error")
	}
}
