package room

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func seqs(msgs []Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

// Messages are kept once each, in the room's order whatever order they
// arrive in, and only the last historySize.
func TestAppendBounded(t *testing.T) {
	var msgs []Message
	for _, s := range []int64{1, 3, 2, 3, 1, 4} {
		before := append([]Message(nil), msgs...)
		next := appendBounded(msgs, Message{Seq: s})
		for i := range before {
			if msgs[i] != before[i] {
				t.Fatalf("appendBounded changed its argument in place")
			}
		}
		msgs = next
	}
	if got := seqs(msgs); len(got) != 4 || got[0] != 1 || got[1] != 2 || got[2] != 3 || got[3] != 4 {
		t.Fatalf("got %v, want [1 2 3 4]", got)
	}
	for s := int64(5); s <= historySize+10; s++ {
		msgs = appendBounded(msgs, Message{Seq: s})
	}
	if len(msgs) != historySize || msgs[0].Seq != 11 || msgs[historySize-1].Seq != historySize+10 {
		t.Fatalf("kept %d messages, %d to %d; want the last %d", len(msgs), msgs[0].Seq, msgs[len(msgs)-1].Seq, historySize)
	}
	// An old message arriving late is not kept beyond the bound.
	if got := appendBounded(msgs, Message{Seq: 3}); got[0].Seq != 11 || len(got) != historySize {
		t.Fatalf("a late old message: kept %d, first %d", len(got), got[0].Seq)
	}
}

func TestRoomLogIsBounded(t *testing.T) {
	var l roomLog
	for range 3 * historySize {
		l.add("a", "b", time.Now())
	}
	got := l.recent()
	if len(got) != historySize || got[len(got)-1].Seq != 3*historySize {
		t.Fatalf("kept %d messages, the last numbered %d", len(got), got[len(got)-1].Seq)
	}
}

func TestVisitorName(t *testing.T) {
	for name, want := range map[string]string{
		"Ada":                "Ada",
		" Ada \t Lovelace\n": "Ada Lovelace",
	} {
		if got := visitorName(name); got != want {
			t.Errorf("%q: %q, want %q", name, got, want)
		}
	}
	long := visitorName(strings.Repeat("é", 100))
	if utf8.RuneCountInString(long) != maxName || !utf8.ValidString(long) {
		t.Errorf("a long name gave %q", long)
	}
	a, b := visitorName(""), visitorName("  ")
	if !strings.HasPrefix(a, "guest-") || !strings.HasPrefix(b, "guest-") || a == b {
		t.Errorf("guest names %q and %q", a, b)
	}
}
