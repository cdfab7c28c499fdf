// Package ledger is the pure core of the shell ledger: per-account chains
// of owner-signed blocks, certified by a quorum (2f+1 of 3f+1) of genesis
// witnesses in the style of FastPay, with no global chain and no total
// order. It holds the genesis and its hard-coded bounds, the canonical
// block encoding, the witness state machine (one vote per account and
// sequence, persisted before it is signed), certificates and equivocation
// evidence, the verifying state any node rebuilds from certificates, reward
// proofs and payment lanes with vouchers.
//
// The package does no networking, starts no goroutines and reads no
// clock; the ledger cell of the runtime carries messages and passes time
// in. DESIGN.md explains the design and its trust root.
package ledger
