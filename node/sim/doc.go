// Package sim runs many peertree cores on a virtual clock over a simulated
// network with seeded latency, loss, partitions and node kill/restart. It
// calls exactly the same Start/Step/Tick/Broadcast as the production runtime,
// so a million-node run exercises production code; the same seed always
// gives the same run (see TraceHash).
package sim
