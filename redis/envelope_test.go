package fluxredis

import (
	"strings"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	long := strings.Repeat("n", 300) // a length that takes two varint bytes
	for _, tc := range []struct{ node, id, msg string }{
		{"NODE", "ID", `{"type":"update","componentID":"ID","data":{"html":"<b>1</b>"}}`},
		{"", "", ""},
		{long, long, long},
	} {
		env := encodeEnvelope(tc.node, tc.id, []byte(tc.msg))
		node, id, msg, ok := decodeEnvelope(string(env))
		if !ok || node != tc.node || id != tc.id || msg != tc.msg {
			t.Errorf("round trip of %q/%q/%q: %q/%q/%q ok=%v", tc.node, tc.id, tc.msg, node, id, msg, ok)
		}
	}
	if got := len(encodeEnvelope("N7YQ4B2KXGJ3ZPRA5TDWMV6HCE", "CTP5C6ZHH5GTOSQPYFYLRAQDSG", nil)); got != 55 {
		t.Errorf("envelope overhead = %d bytes, want 55", got)
	}
	for _, bad := range []string{"", "x", "\x01", "\x01\x05abc", "\x01\x01a", "\x01\x01a\x09b", "\x02\x00\x00", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"} {
		if _, _, _, ok := decodeEnvelope(bad); ok {
			t.Errorf("decoded malformed envelope %q", bad)
		}
	}
}
