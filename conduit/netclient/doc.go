// Package netclient is the conduit's way into the network: a pool of node
// endpoints per cell type (bootstrap contacts, then the registry's verified
// entries, refreshed in the background), scored by latency and errors, with
// Do retrying an idempotent call on the next endpoint when one fails or is
// slower than its score says it should be. Where no node can be reached it
// runs an embedded node, so a single stick is a working one-node network;
// Storage puts files through the pool and resumes an upload that lost its
// node instead of starting again. For the Network page it also counts the
// bytes exchanged with each node, measures the offset to network time, and
// crawls a cell's tree from the nodes' signed answers.
package netclient
