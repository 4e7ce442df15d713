package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestAppendWindow(t *testing.T) {
	var s []Sample
	for i := int64(1); i <= window+5; i++ {
		before := append([]Sample(nil), s...)
		next := appendWindow(s, Sample{Seq: i})
		for j := range before {
			if s[j] != before[j] {
				t.Fatal("appendWindow changed its argument in place")
			}
		}
		s = next
	}
	if len(s) != window || s[0].Seq != 6 || s[window-1].Seq != window+5 {
		t.Fatalf("kept %d samples, %d to %d; want the last %d", len(s), s[0].Seq, s[len(s)-1].Seq, window)
	}
	if got := appendWindow(s, Sample{Seq: 10}); len(got) != window || got[window-1].Seq != window+5 {
		t.Fatal("a sample seen already was added again")
	}
}

func TestSparkline(t *testing.T) {
	// The last value at the right edge, one step of 240/59 per sample;
	// the lowest at the bottom, the highest at the top.
	if got := sparkline([]float64{0, 10, 5}, 240, 48); got != "231.9,48.0 235.9,0.0 240.0,24.0" {
		t.Errorf("sparkline %q", got)
	}
	if got := sparkline([]float64{3, 3}, 240, 48); got != "235.9,24.0 240.0,24.0" {
		t.Errorf("a flat line: %q, want it in the middle", got)
	}
	if got := sparkline(nil, 240, 48); got != "" {
		t.Errorf("no values: %q", got)
	}
}

// The feed publishes until its context is done, and then stops.
func TestFeedStops(t *testing.T) {
	f := &feed{}
	ws, _ := newApp(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer ws.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.run(ctx, ws, time.Millisecond)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.samples()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no samples taken")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the feed goes on after its context is done")
	}
}
