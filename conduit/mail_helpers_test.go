package conduit

import "testing"

// mailCells are the cells the Mail page needs: mailboxes and, for
// attachments, shards.
var mailCells = []string{"crono", "registry", "shard", "mail"}

// startMailNetwork starts n real nodes on 127.0.0.1 running the mail and
// shard cells and a NetworkClient connected to them; it returns when the
// pool sees every node serve both.
func startMailNetwork(t *testing.T, n int) *NetworkClient {
	t.Helper()
	return startCellNetwork(t, n, mailCells)
}
