package relay

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/borgios/borgios/node/transport"
	"github.com/borgios/borgios/node/wire"
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

// FuzzVerifyReceipt: relay receipts are client-signed envelopes a relay
// hands to whoever pays it.
func FuzzVerifyReceipt(f *testing.F) {
	_, client, _ := ed25519.GenerateKey(rand.Reader)
	relayKey, _, _ := ed25519.GenerateKey(rand.Reader)
	payload, err := wire.Marshal(registerReq{Carried: 12345, Relay: relayKey})
	if err != nil {
		f.Fatal(err)
	}
	env, err := wire.SealEnvelope(client, wire.Header{Network: network, Kind: KindRegister, Time: 1_700_000_000_000}, payload)
	if err != nil {
		f.Fatal(err)
	}
	good := env.Bytes()
	f.Add(good)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 1
	f.Add(bad)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := VerifyReceipt(network, b)
		if err == nil && (len(r.Client) != ed25519.PublicKeySize || len(r.Relay) != ed25519.PublicKeySize || r.Carried == 0) {
			t.Fatalf("accepted %+v", r)
		}
		if bytes.Equal(b, good) && (err != nil || r.Carried != 12345 || !r.Relay.Equal(relayKey) || !r.Client.Equal(client.Public())) {
			t.Fatalf("good receipt: %+v %v", r, err)
		}
	})
}
