package node

import (
	"testing"

	"github.com/borgios/borgios/node/wire"
)

// FuzzHello decodes arbitrary greeting payloads the way handleNode does.
func FuzzHello(f *testing.F) {
	good, _ := wire.Marshal(hello{Addr: "127.0.0.1:7446", Version: "dev"})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0xa1, 0x01, 0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h hello
		if err := wire.Unmarshal(b, &h); err != nil {
			return
		}
		again, err := wire.Marshal(h)
		if err != nil {
			t.Fatalf("re-encode a decoded hello: %v", err)
		}
		var h2 hello
		if err := wire.Unmarshal(again, &h2); err != nil || h2 != h {
			t.Fatalf("round trip changed the hello: %+v vs %+v (%v)", h, h2, err)
		}
	})
}
