// Package netclock runs crono, BorgIOS network time, on a real node: a
// Service owns the node's crono.Clock and its injectable local clock and
// gives every part of the node network time (Service.Now, Unix ms) for
// envelope timestamps and wire.Verifier freshness checks; the crono cell
// (CellType, Service.Start) forms the crono tree and feeds the clock with
// NTP exchanges between each node and its parent. The OS clock is never
// stepped or slewed.
//
// # Time down the tree
//
// A child polls its parent with a signed KindSync request carrying a
// crono.Request; the parent answers through the cell receptor with
// crono.Clock.Answer, stamping t2 when the runtime hands over the verified
// request and t3 just before the answer is signed. The child takes t1
// before signing and t4 after verifying, so each direction contains one
// signature and one verification and the delays stay symmetric. Parents
// stamp with their own network time, so the root's time is accumulated
// down the tree. OnView follows the node's place: position 1 calls SetRoot
// (the successor of a dead root continues its own output, which already is
// the old root's time, so nobody sees a step); a new parent calls
// SetParent (fresh clock filter, frequency kept, corrections slewed).
// Network time never goes backwards once synced.
//
// A node that is synced only because it was root on its own (a lone node,
// or the root of a small tree that then joins a bigger one) runs on its own
// guess; on its first parent it calls Unsync so the first estimate is one
// step. A synced node whose parent disagrees by more than StepThreshold
// (1 s, far beyond any honest error: two networks that ran on separate
// roots have merged) does the same rather than slew an hour at 500 ppm for
// 83 days. These are the only steps after start.
//
// # Bootstrap: why the crono cell has its own verifier
//
// Before its first sync a node's time is its OS clock, which may be an hour
// off. The node's ordinary verifier (30 s window) would then refuse every
// crono tree message and every sync request between it and its parent in
// both directions, and it could never sync. So the crono cell, and only it,
// verifies with Service.Verifier: the same wire.Verify (network, size,
// signature, payload digest, replay cache) against the same network time,
// but with a window of MaxSkew (3 h). This is safe because freshness is
// proven otherwise where it matters:
//
//   - an answer to our sync request must be signed by the parent's pinned
//     key and bound to our request (Ref = request ID, which covers our random
//     nonce and our t1), so it cannot be an old answer replayed, whatever
//     its time says;
//   - tree messages are accepted only when signed by the key the QUIC
//     connection authenticated, so only their author can deliver them, and
//     peertree has its own epochs against stale ones;
//   - a replayed sync request only makes the parent tell its time again.
//
// The replay cache still applies: an entry lives until its envelope's time
// plus the window, so a far-off time can never slip past it (once it
// expires the envelope is refused as too old). The cost of the wide window
// is memory: at about 11 crono envelopes per second at a node with ten
// children (heartbeats and polls), 3 h of entries are about 120 000, some
// 12 MB; the cache is capped at 2^18 entries. Every other cell, and every
// freshness check outside crono, keeps the narrow window on network time,
// which after sync is within milliseconds on every node: that is what lets
// a node whose OS clock is an hour off talk to the rest of the network.
//
// Nodes further apart than MaxSkew cannot sync to each other; they log
// refusals ("from future"/"too old") and keep running on their own time.
package netclock
