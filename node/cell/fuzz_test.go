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

// FuzzClockRefusal feeds arbitrary answer bytes to the check that lets a
// refusal of our time through despite its time: it must never panic, and
// whatever it accepts must be signed by the pinned key, bound to the
// request and carry a stale or future code.
func FuzzClockRefusal(f *testing.F) {
	_, node, _ := ed25519.GenerateKey(nil)
	_, client, _ := ed25519.GenerateKey(nil)
	req, _ := wire.SealEnvelope(client, wire.Header{Network: "n", Cell: "c", Kind: "k", Time: 1, Nonce: [wire.NonceSize]byte{7}}, nil)
	target := Target{Key: node.Public().(ed25519.PublicKey)}
	for _, code := range []Code{CodeStale, CodeFuture, CodeNotFound} {
		p, _ := wire.Marshal(&Error{Code: code, Message: "m"})
		b, _ := wire.Reply(node, req, KindError, p, 1<<40)
		f.Add(b)
	}
	ok, _ := wire.Reply(node, req, KindOK, []byte("x"), 1<<40)
	f.Add(ok)
	f.Add([]byte("BORG\x01"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ce, why := clockRefusal("n", target, req, raw, exchanged{mid: 1})
		if (ce == nil) == (why == nil) {
			t.Fatalf("clock error %v and reason %v", ce, why)
		}
		if ce == nil {
			return
		}
		ans, err := wire.Decode(raw, 0)
		if err != nil || !ans.Sender.Equal(target.Key) || ans.Answers(req) != nil || ans.Kind != KindError ||
			(ce.Code != CodeStale && ce.Code != CodeFuture) || ce.NodeMs != ans.Time {
			t.Fatalf("accepted %v as a refusal: %+v", err, ce)
		}
	})
}
