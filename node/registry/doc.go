// Package registry is the registry cell: the network's phone book of live
// endpoints. Every node running it publishes an Entry about itself — its
// addresses, the cells it runs, its load — as an envelope signed by its own
// key, re-broadcast through the registry tree every Interval and expiring
// TTL after it was issued, so a node that dies disappears from every answer
// within TTL without anyone having to vouch for its death. Entries travel
// as the exact signed bytes the node produced; receivers and clients (the
// conduit, through Lookup) verify each one themselves and never trust the
// node that handed it over.
//
// The bound: a node's last entry is issued no later than its death and
// carries ExpiresAt = IssuedAt + TTL; every answer filters on ExpiresAt
// at answer time, and a receiver refuses lifetimes above Policy.MaxTTL. So
// a dead node is absent from every node's answers at most TTL after it died
// (plus the network-time error between the two nodes), however late copies
// of its entries still travel; with the defaults (Interval 10 s, TTL 3
// Intervals) that is 30 s, and no entry of anyone can outlive MaxTTL (2
// min). A live node stays listed as long as one of any three consecutive
// broadcasts reaches a member within TTL of its signing. Where the cell
// runtime reports a neighbour confirmed dead (HandleTreeEvent), that
// neighbour is dropped at once locally, with a tombstone so a replay of its
// entry cannot bring it back.
//
// On joining a tree (and after a merge) a node pages through a neighbour's
// "dump" to learn the table at once; the rest is the broadcast stream. The
// traffic is one small entry per node per Interval to every member, fine
// for thousands of nodes, not for millions.
package registry
