// Package files is each person's file tree on the network: signed head
// records per account (the sealed manifest of the encrypted root
// directory and the hashes of the heads it extends) kept by the files cell
// on k nodes chosen by rendezvous hashing, and directories stored as
// encrypted shard files, so the whole tree can be rebuilt on any machine
// from the phrase alone.
//
// Heads form a DAG. A holder keeps every head no other head it keeps
// extends (a small, bounded set of tips) rather than "the newest", so two
// conduits that update at once can never silently drop each other's
// update: the owner's client sees both tips, merges the trees three-way
// (a name changed on both sides keeps both versions) and writes a merge
// head naming both. DESIGN.md states the rules.
package files
