// Package peertree is the PeerTree protocol core: a pure state machine that
// keeps one complete M-ary broadcast tree of one cell type (joins batched by
// the root, epoch-numbered membership, SWIM-style failure detection with
// indirect confirmation, "last node fills the hole" repair, tree merges and
// exactly-once broadcast along tree edges).
//
// The core never touches sockets, goroutines or clocks: the runtime (or the
// simulator in node/sim) feeds it events and the current time through Start,
// Step, Tick and Broadcast, and carries out the Ready it returns. See
// PROTOCOL.md for the message kinds, who may send each, and the timers.
package peertree
