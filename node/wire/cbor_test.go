package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"reflect"
	"testing"
	"time"
)

type cborSample struct {
	Name   string            `cbor:"name"`
	Count  int64             `cbor:"count"`
	Ratio  float64           `cbor:"ratio"`
	Blob   []byte            `cbor:"blob"`
	Tags   []string          `cbor:"tags"`
	Attrs  map[string]uint32 `cbor:"attrs"`
	Nested *cborSample       `cbor:"nested,omitempty"`
	Flag   bool              `cbor:"flag"`
	Key    [32]byte          `cbor:"key"`
}

func TestCBORRoundTrip(t *testing.T) {
	in := cborSample{
		Name: "shard", Count: -42, Ratio: 0.5, Blob: []byte{0, 1, 2}, Tags: []string{"a", "b"},
		Attrs: map[string]uint32{"x": 1, "y": math.MaxUint32}, Flag: true, Key: [32]byte{7},
		Nested: &cborSample{Name: "inner", Count: math.MaxInt64, Ratio: math.Inf(-1)},
	}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out cborSample
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestCBORDeterministic(t *testing.T) {
	// Core Deterministic Encoding sorts map keys by their encoded bytes:
	// "a" (61 61) before "b" (61 62); 10 (0a) before 100 (18 64) before -1 (20).
	vectors := []struct {
		v    any
		want string
	}{
		{map[string]int{"b": 1, "a": 2}, "a2616102616201"},
		{map[int]bool{-1: true, 100: false, 10: true}, "a30af51864f420f5"},
		{struct {
			B int `cbor:"b"`
			A int `cbor:"a"`
		}{B: 1, A: 2}, "a2616102616201"},
		{uint64(23), "17"}, {uint64(24), "1818"}, {int64(-500), "3901f3"},
		{1.5, "f93e00"}, {math.NaN(), "f97e00"}, {[]byte{1, 2}, "420102"},
	}
	for _, vec := range vectors {
		b, err := Marshal(vec.v)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != vec.want {
			t.Fatalf("Marshal(%#v) = %s, want %s", vec.v, got, vec.want)
		}
	}

	// Go randomises map iteration; the bytes must not follow it.
	m := map[string]any{}
	for i := 0; i < 200; i++ {
		m[string(rune('A'+i%26))+string(rune('a'+i/26))] = i
	}
	first, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		again, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatal("Marshal of the same map gave different bytes")
		}
	}
}

func TestCBORRejects(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		want error
	}{
		{"duplicate map key", "a2616101616102", ErrMalformed},
		{"duplicate int key", "a201010102", ErrMalformed},
		{"indefinite array", "9f0102ff", ErrMalformed},
		{"indefinite map", "bf616101ff", ErrMalformed},
		{"indefinite text", "7f616161ff", ErrMalformed},
		{"trailing bytes", "0102", ErrMalformed},
		{"truncated", "a261610161", ErrMalformed},
		{"empty", "", ErrMalformed},
		{"invalid utf-8", "62c328", ErrMalformed},
		{"length beyond input", "5bffffffffffffffff", ErrMalformed},
		{"reserved additional info", "1c", ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tc.hex)
			var v any
			if err := Unmarshal(b, &v); !errors.Is(err, tc.want) {
				t.Fatalf("into any: err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("duplicate key into struct", func(t *testing.T) {
		var s struct {
			A int `cbor:"a"`
		}
		if err := Unmarshal([]byte{0xa2, 0x61, 'a', 1, 0x61, 'a', 2}, &s); !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v, want ErrMalformed", err)
		}
	})
	t.Run("type mismatch", func(t *testing.T) {
		var n int
		if err := Unmarshal([]byte{0x61, 'a'}, &n); !errors.Is(err, ErrMalformed) {
			t.Fatalf("err = %v, want ErrMalformed", err)
		}
	})
	t.Run("not a pointer is the caller's bug", func(t *testing.T) {
		var n int
		err := Unmarshal([]byte{0x01}, n)
		if err == nil || errors.Is(err, ErrMalformed) || errors.Is(err, ErrOversize) {
			t.Fatalf("err = %v, want a plain error", err)
		}
	})
}

// cborHead encodes a CBOR major type and argument by hand, so the oversize
// tests do not depend on Marshal (which refuses to produce such items).
func cborHead(major byte, n uint64) []byte {
	b := make([]byte, 9)
	b[0] = major<<5 | 27
	binary.BigEndian.PutUint64(b[1:], n)
	return b
}

func TestCBOROversize(t *testing.T) {
	arr := func(n int) []byte {
		return append(cborHead(4, uint64(n)), make([]byte, n)...) // [0, 0, ...]
	}
	var v any
	if err := Unmarshal(arr(CBORMaxElements), &v); err != nil {
		t.Fatalf("array of CBORMaxElements: %v", err)
	}
	if err := Unmarshal(arr(CBORMaxElements+1), &v); !errors.Is(err, ErrOversize) {
		t.Fatalf("array of CBORMaxElements+1: err = %v, want ErrOversize", err)
	}
	if _, err := Marshal(make([]int, CBORMaxElements+1)); err == nil {
		t.Fatal("Marshal produced an array Unmarshal refuses")
	}

	m := cborHead(5, CBORMaxElements+1)
	for i := 0; i <= CBORMaxElements; i++ {
		m = append(m, cborHead(0, uint64(i))...)
		m = append(m, 0xf5)
	}
	if err := Unmarshal(m, &v); !errors.Is(err, ErrOversize) {
		t.Fatalf("map of CBORMaxElements+1 pairs: err = %v, want ErrOversize", err)
	}

	nest := func(levels int) []byte { // [[[...[0]...]]], levels arrays deep
		return append(bytes.Repeat([]byte{0x81}, levels), 0x00)
	}
	if err := Unmarshal(nest(CBORMaxDepth), &v); err != nil {
		t.Fatalf("depth %d: %v", CBORMaxDepth, err)
	}
	if err := Unmarshal(nest(CBORMaxDepth+1), &v); !errors.Is(err, ErrOversize) {
		t.Fatalf("depth %d: err = %v, want ErrOversize", CBORMaxDepth+1, err)
	}
}

func TestCBORMarshalError(t *testing.T) {
	if _, err := Marshal(make(chan int)); err == nil {
		t.Fatal("Marshal of a channel succeeded")
	}
}

func TestCBORTagFreeProfile(t *testing.T) {
	var v any
	for _, h := range []string{"c11a514b67b0", "c249010000000000000000", "d82a4100", "c074323031332d30332d32315432303a30343a30305a"} {
		if err := Unmarshal(unhex(t, h), &v); !errors.Is(err, ErrMalformed) {
			t.Fatalf("tagged item %s: err = %v, want ErrMalformed", h, err)
		}
	}
	small, huge := big.NewInt(-5), new(big.Int).Lsh(big.NewInt(1), 70)
	if b, err := Marshal(small); err != nil || hex.EncodeToString(b) != "24" {
		t.Fatalf("small big.Int: %x, %v", b, err)
	}
	if _, err := Marshal(huge); err == nil {
		t.Fatal("a 71-bit big.Int was encoded; it needs a tag receivers refuse")
	}
	deep := []any{}
	for i := 0; i < CBORMaxDepth; i++ {
		deep = []any{deep}
	}
	if _, err := Marshal(deep); err == nil {
		t.Fatal("Marshal produced nesting that Unmarshal refuses")
	}
	// time.Time travels as an RFC 3339 string, without loss.
	at := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC)
	b, err := Marshal(at)
	if err != nil {
		t.Fatal(err)
	}
	var back time.Time
	if err := Unmarshal(b, &back); err != nil || !back.Equal(at) {
		t.Fatalf("time round trip: %v, %v", back, err)
	}
}
