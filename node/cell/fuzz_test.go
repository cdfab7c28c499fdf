package cell

import (
	"crypto/ed25519"
	"testing"

	"github.com/borgios/borgios/node/wire"
)

// FuzzDecodeAnswer feeds arbitrary payloads to the client's decoder of
// receptor answers: it must never panic, and an error answer must come
// back as an *Error.
func FuzzDecodeAnswer(f *testing.F) {
	ok, _ := wire.Marshal(&Error{Code: CodeReplay, Message: "seen"})
	f.Add(KindOK, []byte{})
	f.Add(KindError, ok)
	f.Add(KindError, []byte{0xff, 0x00})
	f.Add("other", []byte("x"))
	_, key, _ := ed25519.GenerateKey(nil)
	f.Fuzz(func(t *testing.T, kind string, payload []byte) {
		if len(kind) == 0 || len(kind) > wire.MaxNameLen {
			return
		}
		env, err := wire.SealEnvelope(key, wire.Header{Network: "n", Cell: "c", Kind: kind, Time: 1}, payload)
		if err != nil {
			return
		}
		out, err := decodeAnswer(env)
		if err == nil && kind != KindOK {
			t.Fatalf("kind %q decoded as ok", kind)
		}
		if err != nil {
			if _, isErr := err.(*Error); !isErr {
				t.Fatalf("error of type %T", err)
			}
			if out != nil {
				t.Fatal("payload returned with an error")
			}
		}
	})
}
