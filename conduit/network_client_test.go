package conduit

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/identity"
)

// TestNetworkClientEmbedded runs the conduit with no node to reach: the
// network client starts its embedded node, the status API reports it, and
// the unlocked person's files go to it signed with their key and come back.
func TestNetworkClientEmbedded(t *testing.T) {
	nc := &NetworkClient{}
	ts := startServer(t, func(c *Config) { c.Network = nc })
	t.Cleanup(func() { nc.Close() })

	var st statusJSON
	ts.api("GET", "/api/status", nil, &st)
	if st.Network.Health != HealthUnknown {
		t.Fatalf("before Connect: %+v", st.Network)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := nc.Connect(context.Background(), netclient.Config{
		Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: quiet, RefreshInterval: time.Second,
		Embedded: &node.Config{Cells: []string{"crono", "registry", "shard"}, TreeHeartbeat: 200 * time.Millisecond, Logger: quiet},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ts.api("GET", "/api/status", nil, &st)
		if st.Network.Health == HealthOK && st.Network.Mode == netclient.ModeEmbedded && st.Network.Peers == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("embedded node never reported healthy: %+v", st.Network)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if _, _, err := ts.NetworkStorage(nc.Pool()); !errors.Is(err, ErrLocked) {
		t.Fatalf("storage while locked: %v", err)
	}
	phrase, err := identity.NewMnemonic()
	if err != nil {
		t.Fatal(err)
	}
	var id identityJSON
	if status := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: phrase}, &id); status != http.StatusOK {
		t.Fatalf("unlock: %d", status)
	}
	storage, wipe, err := ts.NetworkStorage(nc.Pool())
	if err != nil {
		t.Fatal(err)
	}
	defer wipe()
	data := bytes.Repeat([]byte("borgios "), 100_000)
	m, err := storage.Put(context.Background(), bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if hexKey := id.AccountPublicKey; hexKey == "" || !bytes.Equal(m.Owner, mustHex(t, hexKey)) {
		t.Fatalf("manifest owner %x, person %s", m.Owner, hexKey)
	}
	var out bytes.Buffer
	if _, err := storage.Get(context.Background(), m, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("read back: %v", err)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
