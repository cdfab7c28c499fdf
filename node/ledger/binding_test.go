package ledger

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestBindingTwoSteps(t *testing.T) {
	_, node, _ := ed25519.GenerateKey(nil)
	ownerPub, owner, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	var g Hash
	g[0] = 7
	var ownerID AccountID
	copy(ownerID[:], ownerPub)

	req := NewBindingRequest(g, node, ownerID)
	if err := req.Verify(); err == nil {
		t.Fatal("a request without the owner's signature verified")
	}
	wrong := req
	if err := wrong.SignOwner(other); !errors.Is(err, ErrBadBinding) {
		t.Fatalf("another key countersigned: %v", err)
	}
	dec, err := DecodeNodeBinding(req.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.SignOwner(owner); err != nil {
		t.Fatal(err)
	}
	if err := dec.Verify(); err != nil {
		t.Fatalf("completed binding: %v", err)
	}
	tampered := *dec
	tampered.NodeSig[0] ^= 1
	if err := tampered.SignOwner(owner); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered request: %v", err)
	}
	if _, err := DecodeNodeBinding(dec.Encode()[:10]); err == nil {
		t.Fatal("short binding decoded")
	}
}

func FuzzDecodeNodeBinding(f *testing.F) {
	_, node, _ := ed25519.GenerateKey(nil)
	seed := NewBindingRequest(Hash{}, node, AccountID{})
	f.Add(seed.Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeNodeBinding(data)
		if err != nil {
			return
		}
		if string(b.Encode()) != string(data) {
			t.Fatal("binding does not re-encode to its input")
		}
	})
}
