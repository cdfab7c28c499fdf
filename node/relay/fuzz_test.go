package relay

import (
	"bytes"
	"testing"

	"github.com/borgios/borgios/node/transport"
)

// FuzzParseAnswer: LAN discovery answers come from anyone on the LAN.
func FuzzParseAnswer(f *testing.F) {
	nonce := []byte("12345678")
	good := append(append(append([]byte("BGA1"), nonce...), bytes.Repeat([]byte{7}, 32)...), 0x1d, 0x16)
	f.Add(good)
	f.Add([]byte("BGA1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		key, port, ok := parseAnswer(b, nonce)
		if ok && (len(key) != 32 || port == 0) {
			t.Fatalf("accepted key %x port %d", key, port)
		}
	})
}

// FuzzParseRelayAddr: relayed addresses arrive in registry entries and
// tree messages.
func FuzzParseRelayAddr(f *testing.F) {
	f.Add("r-" + string(bytes.Repeat([]byte("ab"), 32)) + ".203.0.113.7:7446")
	f.Add("r-00.x:1")
	f.Add("127.0.0.1:7446")
	f.Fuzz(func(t *testing.T, s string) {
		key, hp, ok, err := transport.ParseRelayAddr(s)
		if ok && err == nil {
			again, err := transport.RelayAddr(key, hp)
			if err != nil || again != s {
				t.Fatalf("%q parsed to %x %q but formats to %q (%v)", s, key, hp, again, err)
			}
		}
	})
}
