package netclient

import (
	"testing"

	"github.com/borgios/borgios/node/wire"
)

// FuzzDecodeHasAnswer feeds the decoder of a node's "has" answer arbitrary
// bytes: it must refuse or return exactly as many flags as IDs asked.
func FuzzDecodeHasAnswer(f *testing.F) {
	for _, held := range [][]bool{nil, {true}, {false, true, true}} {
		b, err := wire.Marshal(hasAnswer{Held: held})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, len(held))
	}
	f.Add([]byte{0xa1, 0x01, 0x9f}, 1)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1<<12 {
			return
		}
		held, err := decodeHasAnswer(b, n)
		if err == nil && len(held) != n {
			t.Fatalf("%d flags for %d IDs", len(held), n)
		}
	})
}
