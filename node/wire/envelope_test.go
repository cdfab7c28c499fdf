package wire

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestSealDecodeRoundTrip(t *testing.T) {
	priv := testKey(1)
	h := testHeader(testT0)
	h.Ref = [RefSize]byte{9, 9, 9}
	payload := []byte("hello, borg")
	b := mustSeal(t, priv, h, payload)

	e := mustDecode(t, b)
	if !bytes.Equal(e.Bytes(), b) {
		t.Fatal("Bytes() differs from the sealed bytes")
	}
	if e.Network != h.Network || e.Cell != h.Cell || e.Kind != h.Kind || e.Time != h.Time || e.Ref != h.Ref {
		t.Fatalf("header mismatch: got %+v, want %+v", e.Header, h)
	}
	if e.Nonce == ([NonceSize]byte{}) {
		t.Fatal("Seal left the nonce zero")
	}
	if !e.Sender.Equal(priv.Public()) {
		t.Fatal("sender is not the signing key")
	}
	if !bytes.Equal(e.Payload, payload) {
		t.Fatalf("payload %q, want %q", e.Payload, payload)
	}
	if !e.IsAnswer() {
		t.Fatal("IsAnswer false with a non-zero Ref")
	}
	if got, want := len(b), MinSize-2+len(h.Network)+len(h.Cell)+len(h.Kind)+len(payload); got != want {
		t.Fatalf("envelope is %d bytes, layout says %d", got, want)
	}
	if !strings.Contains(e.String(), "registry/lookup") {
		t.Fatalf("String() = %q", e.String())
	}

	b2 := mustSeal(t, priv, h, payload)
	if bytes.Equal(b, b2) {
		t.Fatal("two Seals with a zero nonce produced identical envelopes")
	}
	if mustDecode(t, b2).ID() == e.ID() {
		t.Fatal("different envelopes share an ID")
	}
}

func TestSealEnvelope(t *testing.T) {
	e, err := SealEnvelope(testKey(1), testHeader(testT0), []byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	d := mustDecode(t, e.Bytes())
	if d.ID() != e.ID() || !bytes.Equal(d.Payload, e.Payload) {
		t.Fatal("SealEnvelope disagrees with Decode of its bytes")
	}
}

func TestSealEmptyCellAndPayload(t *testing.T) {
	h := Header{Network: "n", Kind: "k", Time: -5}
	b := mustSeal(t, testKey(1), h, nil)
	if len(b) != MinSize {
		t.Fatalf("smallest envelope is %d bytes, MinSize %d", len(b), MinSize)
	}
	e := mustDecode(t, b)
	if e.Cell != "" || len(e.Payload) != 0 || e.Time != -5 {
		t.Fatalf("got %+v", e.Header)
	}
}

func TestSealRejectsInvalidInput(t *testing.T) {
	long := strings.Repeat("x", MaxNameLen+1)
	maxName := strings.Repeat("x", MaxNameLen)
	if _, err := Seal(testKey(1), Header{Network: maxName, Cell: maxName, Kind: maxName}, nil); err != nil {
		t.Fatalf("names of MaxNameLen refused: %v", err)
	}
	cases := map[string]Header{
		"empty network":   {Kind: "k"},
		"empty kind":      {Network: "n"},
		"long network":    {Network: long, Kind: "k"},
		"long cell":       {Network: "n", Cell: long, Kind: "k"},
		"long kind":       {Network: "n", Kind: long},
		"space in kind":   {Network: "n", Kind: "a b"},
		"control in cell": {Network: "n", Cell: "a\nb", Kind: "k"},
		"non-ascii net":   {Network: "né", Kind: "k"},
		"DEL in kind":     {Network: "n", Kind: "a\x7f"},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Seal(testKey(1), h, nil); !errors.Is(err, ErrInvalidHeader) {
				t.Fatalf("err = %v, want ErrInvalidHeader", err)
			}
		})
	}
	for _, n := range []int{0, 32, 63, 65} {
		if _, err := Seal(ed25519.PrivateKey(make([]byte, n)), testHeader(0), nil); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("key of %d bytes: err = %v, want ErrInvalidKey", n, err)
		}
	}
}

func TestDecodeEveryTruncationIsMalformed(t *testing.T) {
	b := mustSeal(t, testKey(1), testHeader(testT0), []byte("payload"))
	for n := 0; n < len(b); n++ {
		if _, err := Decode(b[:n], 0); !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix of %d/%d bytes: err = %v, want ErrMalformed", n, len(b), err)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	b := mustSeal(t, testKey(1), testHeader(testT0), []byte("payload"))
	e := mustDecode(t, b)
	lenOff := e.hdrLen - 32 - 4
	netLenOff := magicLen + 1
	cellLenOff := netLenOff + 1 + len(e.Network)

	setLen := func(v uint32) []byte {
		c := append([]byte(nil), b...)
		binary.BigEndian.PutUint32(c[lenOff:], v)
		return c
	}
	set := func(i int, v byte) []byte {
		c := append([]byte(nil), b...)
		c[i] = v
		return c
	}
	cases := map[string][]byte{
		"garbage":                bytes.Repeat([]byte{0xAB}, 300),
		"bad magic":              set(0, 'b'),
		"trailing byte":          append(append([]byte(nil), b...), 0),
		"payload length short":   setLen(uint32(len(e.Payload)) - 1),
		"payload length long":    setLen(uint32(len(e.Payload)) + 1),
		"payload length max":     setLen(^uint32(0)),
		"network length 0":       set(netLenOff, 0),
		"network length 33":      set(netLenOff, MaxNameLen+1),
		"network length 255":     set(netLenOff, 255),
		"cell length 33":         set(cellLenOff, MaxNameLen+1),
		"space in network":       set(netLenOff+1, ' '),
		"control byte in cell":   set(cellLenOff+1, 0),
		"high byte in network":   set(netLenOff+2, 0x80),
		"only magic and version": b[:magicLen+1],
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Decode(in, 0); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeUnknownVersion(t *testing.T) {
	b := mustSeal(t, testKey(1), testHeader(testT0), nil)
	for _, v := range []byte{0, 2, 255} {
		c := append([]byte(nil), b...)
		c[magicLen] = v
		if _, err := Decode(c, 0); !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("version %d: err = %v, want ErrUnknownVersion", v, err)
		}
		// A future version may be shorter than v1's minimum; the version
		// must still be reported, not "truncated".
		if _, err := Decode(c[:magicLen+1], 0); !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("version %d, 5 bytes: err = %v, want ErrUnknownVersion", v, err)
		}
	}
}

func TestDecodeOversize(t *testing.T) {
	b := mustSeal(t, testKey(1), testHeader(testT0), make([]byte, 1000))
	if _, err := Decode(b, len(b)); err != nil {
		t.Fatalf("exactly maxSize refused: %v", err)
	}
	if _, err := Decode(b, len(b)-1); !errors.Is(err, ErrOversize) {
		t.Fatalf("err = %v, want ErrOversize", err)
	}
	big := make([]byte, DefaultMaxSize+1)
	if _, err := Decode(big, 0); !errors.Is(err, ErrOversize) {
		t.Fatalf("maxSize 0 must mean DefaultMaxSize: err = %v", err)
	}
}

func TestDecodeOwnsItsBytes(t *testing.T) {
	b := mustSeal(t, testKey(1), testHeader(testT0), []byte("payload"))
	orig := append([]byte(nil), b...)
	e := mustDecode(t, b)
	id := e.ID()
	for i := range b {
		b[i] = 0 // a transport reusing its read buffer
	}
	if !bytes.Equal(e.Bytes(), orig) || string(e.Payload) != "payload" || e.ID() != id {
		t.Fatal("Envelope changed when the caller reused the input buffer")
	}
	if !e.Sender.Equal(testKey(1).Public()) {
		t.Fatal("Sender changed when the caller reused the input buffer")
	}
}

func TestFieldsAreAViewNotTheSignedBytes(t *testing.T) {
	b := mustSeal(t, testKey(1), testHeader(testT0), nil)
	e := mustDecode(t, b)
	id := e.ID()
	e.Kind = "something-else"
	e.Time++
	if e.ID() != id || !bytes.Equal(e.Bytes(), b) {
		t.Fatal("editing fields changed ID or Bytes; they must follow the signed bytes only")
	}
}
