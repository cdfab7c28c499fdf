// Package cell runs cell types on a node. A cell type is fixed DNA (name,
// max children, protocol, version) plus handlers; every node that runs it
// joins that cell's own PeerTree, driven here over the node's one QUIC
// transport. Each cell has a receptor (signed client requests, signed
// answers bound to them) and a monitor section (tree position, size, epoch,
// requests, errors) on the node's read-only /status and /metrics. Every
// receptor also answers the built-in read-only "view", "announce" and
// "tree" requests; "tree" is how a client draws a cell's tree.
package cell
