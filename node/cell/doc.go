// Package cell runs cell types on a node. A cell type is fixed DNA (name,
// max children, protocol, version) plus handlers; every node that runs it
// joins that cell's own PeerTree, driven here over the node's one QUIC
// transport. Each cell has a receptor (signed client requests, signed
// answers bound to them) and a monitor section (tree position, size, epoch,
// requests, errors) on the node's read-only /status and /metrics. Every
// receptor also answers the built-in read-only "view", "announce" and
// "tree" requests; "tree" is how a client draws a cell's tree.
//
// # A client whose clock is wrong
//
// A receptor refuses a request outside its freshness window with a signed
// stale or future error bound to that request, stamped with its own time.
// The Client's one Verify then refuses that answer too (its time is outside
// the client's window, by the same error), so a client with a wrong clock
// would only ever see bad-answer and could never learn the right time.
// Client recognises exactly this case and returns a *ClockError carrying
// the node's signed time: every check of Verify except freshness still
// runs (network, structure, signature by the pinned key, payload digest),
// the answer must be bound to this very request (whose nonce is fresh, so
// no earlier answer can be replayed into it) and must carry code stale or
// future. Anything else stays bad-answer. A ClockError is one node's word
// and nothing more; the clock's owner decides whether to believe it (the
// conduit's pool wants two agreeing nodes, see conduit/netclient).
package cell
