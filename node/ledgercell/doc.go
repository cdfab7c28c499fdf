// Package ledgercell runs the shell ledger (node/ledger, a pure core) as the
// "ledger" cell on real nodes: every member keeps a verifying Ledger fed by
// certificates that arrive as confirm requests, announced by hash in tree
// broadcasts (and fetched if missing) and in catch-up pages; members whose node key is a genesis witness also run a
// Witness on the node's bbolt file and answer vote requests in batches
// (group commit: one fsync for every vote that queued during the last one).
//
// Client is the owner's side (FastPay style): it signs a block with the
// account key, asks every witness for a vote in parallel, assembles the
// certificate at quorum and pushes it back; VerifyAccount recomputes any
// balance from an account's chain of certificates alone.
//
// Earning: a Rewarder turns audits and deliveries this node checked into
// signed service proofs and hands them to the node that did the work,
// which claims them on its own chain for its bound owner. Paying: a
// payer funds a lane and pays per request with vouchers; the payee node
// keeps the best, redeems it, and disputes a stale close by itself.
// RECEPTOR.md lists every request kind.
package ledgercell
