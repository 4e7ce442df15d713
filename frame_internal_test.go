package liveflux

import (
	"errors"
	"testing"
)

// FuzzFrames feeds the frame reader any bytes, in any cuts: it never
// panics, never returns a message over its limit, and every error it
// returns is a protocol error with a close code, or a wish for more bytes.
func FuzzFrames(f *testing.F) {
	masked := func(b0 byte, payload string) []byte {
		out := []byte{b0, 0x80 | byte(len(payload)), 1, 2, 3, 4}
		for i := range len(payload) {
			out = append(out, payload[i]^byte(i%4+1))
		}
		return out
	}
	f.Add(masked(0x81, `{"type":"init","componentID":"x"}`), uint8(3), true)
	f.Add(append(masked(0x01, `{"ty`), masked(0x80, `pe":"x"}`)...), uint8(1), false)
	f.Add(append(masked(0x89, "hi"), masked(0x88, "\x03\xe8")...), uint8(7), false)
	f.Add(masked(0xc1, "\xcaH\xcd\xc9\xc9\x07\x00"), uint8(2), true)
	f.Add([]byte{0x81, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, uint8(5), false)
	f.Fuzz(func(t *testing.T, data []byte, cut uint8, deflate bool) {
		r := frameReader{limit: 1 << 10, deflate: deflate}
		step := int(cut%16) + 1
		for len(data) > 0 || len(r.buf) > 0 {
			if len(data) > 0 {
				n := min(step, len(data))
				copy(r.space(), data[:n])
				r.grew(n)
				data = data[n:]
			}
			_, msg, _, err := r.next()
			var fe *frameError
			switch {
			case errors.Is(err, errNeedMore):
				if len(data) == 0 {
					return
				}
			case errors.As(err, &fe):
				if fe.code < 1000 {
					t.Fatalf("close code %d", fe.code)
				}
				return
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			case int64(len(msg)) > r.limit:
				t.Fatalf("a message of %d bytes, over the limit %d", len(msg), r.limit)
			}
		}
	})
}
