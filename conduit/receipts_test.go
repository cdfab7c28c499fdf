package conduit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"testing"
	"time"

	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/ledgercell"
)

// TestReadsPayHolders is issue 6's bandwidth earning through the real
// reader: a person downloads and streams a file through the conduit, the
// conduit signs delivery receipts for the bytes each holder sent, and the
// holders' ledger cells certify bandwidth rewards from the treasury to the
// owner their owner.binding names. Total supply never moves.
func TestReadsPayHolders(t *testing.T) {
	ownerPub, ownerKey, _ := ed25519.GenerateKey(nil)
	owner := ledger.AccountID(ownerPub)
	var nodes []*node.Node
	nc := startNetworkOpts(t, 4, netCells, netOpts{owner: ownerKey, nodes: &nodes})
	ts := startServer(t, func(c *Config) { c.Network = nc })
	if st := ts.api("POST", "/api/unlock", unlockRequest{Mnemonic: testPhrase}, nil); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	data := make([]byte, 600_000) // three chunks
	rand.Read(data)
	if st, b := ts.uploadFiles("/", "r1", map[string][]byte{"clip.txt": data}, "clip.txt"); st != http.StatusOK {
		t.Fatalf("upload: %d %s", st, b)
	}
	// A download (shard client) and a streamed read (stream fetcher).
	resp, body := ts.getBearer("/api/files/download?path=/clip.txt&id=d1", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) || resp.Header.Get("X-Transfer-Id") != "d1" {
		t.Fatalf("download: %d, identical %v, id %q", resp.StatusCode, bytes.Equal(body, data), resp.Header.Get("X-Transfer-Id"))
	}
	// The download's progress: bytes sent, rate, and the holders heard.
	var prog struct {
		Uploads []upload `json:"uploads"`
	}
	ts.api("GET", "/api/files/progress", nil, &prog)
	var d upload
	for _, u := range prog.Uploads {
		if u.ID == "d1" {
			d = u
		}
	}
	if d.Kind != "download" || !d.Done || d.Error != "" || d.Stored != int64(len(data)) || d.Size != int64(len(data)) || d.Sources < 1 || d.Sources > 3 || d.Path != "/clip.txt" {
		t.Fatalf("download progress: %+v", d)
	}
	if resp, body := ts.getBearer("/api/media/clip.txt", map[string]string{"Range": "bytes=300000-"}); resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[300000:]) {
		t.Fatalf("media: %d, identical %v", resp.StatusCode, bytes.Equal(body, data[300000:]))
	}

	// Receipts start in the background on the first read; the reads
	// above may have come before them, so read until they count.
	ts.rcptMu.Lock()
	r := ts.rcpt
	ts.rcptMu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for ; r == nil && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ts.getBearer("/api/files/download?path=/clip.txt", nil)
		ts.rcptMu.Lock()
		r = ts.rcpt
		ts.rcptMu.Unlock()
	}
	if r == nil {
		t.Fatal("the conduit never started signing delivery receipts")
	}
	ts.getBearer("/api/files/download?path=/clip.txt", nil)
	r.flush()
	for st := r.Stats(); st.Paid == 0; st = r.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("no receipt paid: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The payout is a certified send from the treasury to the owner.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g := nodes[0].Ledger().Genesis()
	wallet := ledgercell.NewClient(ledgercell.ClientConfig{Genesis: g, Caller: nc.Pool().Client(ownerKey),
		Witnesses: ledgercell.RegistryWitnesses(nodes[0].Registry(), g)})
	defer wallet.Close()
	var bandwidth bool
	for !bandwidth {
		info, err := wallet.Balance(ctx, owner)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range info.Pending {
			if p.Work == "delivery" {
				bandwidth = true
			}
		}
		if !bandwidth {
			if ctx.Err() != nil {
				t.Fatalf("no bandwidth reward pending for the owner: %+v", info.Pending)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, nd := range nodes {
		nd.Ledger().View(func(l *ledger.Ledger) {
			if err := l.CheckConservation(); err != nil {
				t.Errorf("node %x: %v", nd.PublicKey()[:4], err)
			}
		})
	}
}
