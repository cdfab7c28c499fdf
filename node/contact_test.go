package node

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestParseContact(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	c := Contact{Key: pub, Addr: "127.0.0.1:7446"}
	got, err := ParseContact(c.String())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Key.Equal(pub) || got.Addr != c.Addr {
		t.Fatalf("round trip: %v", got)
	}
	for _, bad := range []string{"", "127.0.0.1:7446", "zz@127.0.0.1:1", "abcd@127.0.0.1:1", c.String()[:64] + "@nohostport"} {
		if _, err := ParseContact(bad); !errors.Is(err, ErrBadContact) {
			t.Errorf("%q: got %v, want ErrBadContact", bad, err)
		}
	}
}
