package conduit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/borgios/borgios/conduit/netclient"
	"github.com/borgios/borgios/node"
	"github.com/borgios/borgios/node/mail"
	"github.com/borgios/borgios/node/shard"
)

// mailCells are the cells the Mail page needs: mailboxes and, for
// attachments, shards.
var mailCells = []string{"crono", "registry", "shard", "mail"}

// startMailNetwork starts n real nodes on 127.0.0.1 running the mail and
// shard cells and a NetworkClient connected to them; it returns when the
// pool sees every node serve both.
func startMailNetwork(t *testing.T, n int) *NetworkClient {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := t.TempDir()
	var nodes []*node.Node
	t.Cleanup(func() {
		for i := len(nodes) - 1; i >= 0; i-- {
			nodes[i].Close()
		}
	})
	for i := 0; i < n; i++ {
		var peers []node.Contact
		if i > 0 {
			peers = append(peers, nodes[0].Contact())
		}
		nd, err := node.Start(context.Background(), node.Config{
			DataDir: filepath.Join(base, fmt.Sprintf("node%02d", i)), Listen: "127.0.0.1:0", Peers: peers, Cells: mailCells,
			TreeHeartbeat: 200 * time.Millisecond, Logger: quiet,
		})
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		nodes = append(nodes, nd)
	}
	var contacts []node.Contact
	for _, nd := range nodes {
		contacts = append(contacts, nd.Contact())
	}
	nc := &NetworkClient{}
	t.Cleanup(func() { nc.Close() })
	if err := nc.Connect(context.Background(), netclient.Config{
		Listen: "127.0.0.1:0", Bootstrap: contacts, Logger: quiet, RefreshInterval: time.Second,
		ProbeTimeout: 30 * time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	p := nc.Pool()
	deadline := time.Now().Add(120 * time.Second)
	for {
		if len(p.Endpoints(shard.DNA.Name)) >= n && len(p.Endpoints(mail.DNA.Name)) >= n {
			return nc
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool never saw %d nodes of each cell: %+v", n, p.Status().Live)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
