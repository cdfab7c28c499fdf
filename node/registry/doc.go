// Package registry is the registry cell: the network's phone book of live
// endpoints. Every node running it publishes an Entry about itself — its
// addresses, the cells it runs, its load — as an envelope signed by its own
// key, re-broadcast through the registry tree every Interval and expiring
// TTL after it was issued, so a node that dies disappears from every answer
// within TTL without anyone having to vouch for its death. Entries travel
// as the exact signed bytes the node produced; receivers and clients (the
// conduit, through Lookup) verify each one themselves and never trust the
// node that handed it over.
package registry
