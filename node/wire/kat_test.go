package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// katVector is one known-answer vector in testdata/kat.json. The expected
// bytes were produced once and reviewed against the layout in doc.go; they
// must never be regenerated to make a failing test pass: a mismatch means
// the format drifted and every deployed node would disagree with this one.
type katVector struct {
	Name     string `json:"name"`
	Seed     string `json:"seed"`
	Network  string `json:"network"`
	Cell     string `json:"cell"`
	Kind     string `json:"kind"`
	Time     int64  `json:"time"`
	Nonce    string `json:"nonce"`
	Ref      string `json:"ref"`
	Payload  string `json:"payload"`
	Envelope string `json:"envelope"`
	ID       string `json:"id"`
}

func loadKAT(tb testing.TB) []katVector {
	tb.Helper()
	raw, err := os.ReadFile("testdata/kat.json")
	if err != nil {
		tb.Fatal(err)
	}
	var file struct {
		Vectors []katVector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		tb.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		tb.Fatal("no vectors")
	}
	return file.Vectors
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func (kv katVector) key(tb testing.TB) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(unhex(tb, kv.Seed))
}

func (kv katVector) header(tb testing.TB) Header {
	h := Header{Network: kv.Network, Cell: kv.Cell, Kind: kv.Kind, Time: kv.Time}
	copy(h.Nonce[:], unhex(tb, kv.Nonce))
	copy(h.Ref[:], unhex(tb, kv.Ref))
	return h
}

// layoutBytes builds the envelope straight from the table in doc.go,
// independently of Seal, so the documentation and the code cannot drift
// apart either.
func layoutBytes(tb testing.TB, kv katVector) []byte {
	priv := kv.key(tb)
	payload := unhex(tb, kv.Payload)
	var b []byte
	b = append(b, 0x42, 0x4f, 0x52, 0x47, 0x01)
	for _, s := range []string{kv.Network, kv.Cell, kv.Kind} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	b = append(b, priv.Public().(ed25519.PublicKey)...)
	b = binary.BigEndian.AppendUint64(b, uint64(kv.Time))
	b = append(b, unhex(tb, kv.Nonce)...)
	b = append(b, unhex(tb, kv.Ref)...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	d := sha256.Sum256(payload)
	b = append(b, d[:]...)
	if got, want := len(b), 132+len(kv.Network)+len(kv.Cell)+len(kv.Kind); got != want {
		tb.Fatalf("header is %d bytes, doc.go says H = %d", got, want)
	}
	msg := sha512.Sum512(append([]byte("borgios/envelope/v1\x00"), b...))
	sig := ed25519.Sign(priv, msg[:])
	b = append(b, payload...)
	return append(b, sig...)
}

func TestKnownAnswerVectors(t *testing.T) {
	vectors := loadKAT(t)
	ids := map[string]string{}
	for _, kv := range vectors {
		t.Run(kv.Name, func(t *testing.T) {
			want := unhex(t, kv.Envelope)
			got, err := Seal(kv.key(t), kv.header(t), unhex(t, kv.Payload))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Seal drifted from the committed vector:\n got %x\nwant %x", got, want)
			}
			if doc := layoutBytes(t, kv); !bytes.Equal(doc, want) {
				t.Fatalf("layout in doc.go disagrees with the vector:\n doc %x\nwant %x", doc, want)
			}
			hdr := want[:132+len(kv.Network)+len(kv.Cell)+len(kv.Kind)]
			wantID := sha256.Sum256(append([]byte("borgios/envelope-id/v1\x00"), hdr...))
			if hex.EncodeToString(wantID[:]) != kv.ID {
				t.Fatalf("vector id %s, doc.go formula gives %x", kv.ID, wantID)
			}

			v := NewVerifier(Config{Network: kv.Network, Now: func() int64 { return kv.Time }})
			e, err := v.Verify(want)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id := e.ID(); hex.EncodeToString(id[:]) != kv.ID {
				t.Fatalf("ID %x, want %s", id, kv.ID)
			}
			if e.Header != kv.header(t) || !bytes.Equal(e.Payload, unhex(t, kv.Payload)) {
				t.Fatalf("decoded %+v", e.Header)
			}
			ids[kv.Name] = kv.ID
		})
	}
	// The "answer" vector is bound to the "request" vector.
	for _, kv := range vectors {
		if kv.Name == "answer" && kv.Ref != ids["request"] {
			t.Fatalf("answer ref %s, request id %s", kv.Ref, ids["request"])
		}
	}
}
