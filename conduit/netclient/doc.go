// Package netclient is the conduit's way into the network: a pool of node
// endpoints per cell type (bootstrap contacts, then the registry's verified
// entries, refreshed in the background), scored by latency and errors, with
// Do retrying an idempotent call on the next endpoint when one fails or is
// slower than its score says it should be. Where no node can be reached it
// runs an embedded node, so a single stick is a working one-node network;
// Storage puts files through the pool and resumes an upload that lost its
// node instead of starting again. For the Network page it also counts the
// bytes exchanged with each node, keeps the offset to network time, and
// crawls a cell's tree from the nodes' signed answers.
//
// # Network time on a computer whose clock is wrong
//
// The stick may be plugged into a stranger's laptop whose clock is minutes
// or days off. Every envelope carries its signer's time and every node
// refuses one more than 30 s from its own (wire.DefaultWindow), and we
// refuse their answers likewise, so with the laptop's clock the conduit
// could not talk to the network at all. The product never sets the
// computer's clock; the pool keeps its own time instead, and every client
// it makes (Pool.Client) signs requests and checks answers with Pool.Now.
//
// Pool.Now is the computer's clock as read when the pool started, plus the
// monotonic time since, plus an offset the nodes agree on. Counting from
// the monotonic clock means the laptop's own clock being set while we run
// (its NTP waking up, a person fixing it) does not move our time; only the
// nodes do. (A laptop that sleeps comes back behind, like any clock whose
// monotonic time paused; the first refusals put it right.)
//
// The offset moves on evidence from two sources, each one node's signed
// statement of its time:
//
//   - Refusals. A node refuses a request outside its window with an error
//     answer signed by its pinned key, bound to the request and stamped with
//     its own time; cell.Client returns it as *cell.ClockError (node/cell's
//     package comment says exactly what is checked). When a call through
//     DoAt (and so Do and Refresh) comes back with one, the pool bootstraps:
//     it asks up to five known nodes for their time with the cheapest request
//     every cell answers (cell.Client.NodeTime: a refusal or an answer, either
//     carries the node's signed time), and moves the clock when two agree,
//     then runs the call once more. A pool that knows one node only (a
//     single bootstrap contact) first asks that node's registry whom else to
//     ask, signing that one request with the node's claimed time. Calls made
//     outside DoAt (the shard client's) record the refusal and wake the
//     background refresh, which bootstraps in turn.
//   - Measurement. MeasureClock (once per refresh) runs NTP-style exchanges
//     with up to three crono nodes, three each, and keeps each node's sample
//     with the smallest round trip.
//
// Deciding: each node's latest word (at most two minutes old) is the offset
// it implies. The pool takes the largest group of nodes that agree with one
// another within 2 s (plus half their round trips), or between equal groups
// the one needing the smaller change, and within it the sample with the
// smallest round trip. It acts only when the group holds at least two nodes
// (one, if it is the embedded node: that is this very process). Corrections
// under 300 ms are ignored, so the time does not jitter with measurement
// noise; up to 10 s they are slewed (our clock runs at half or one and a
// half speed until it has caught up), so it never jumps nor runs back;
// larger ones, such as the first correction on a wrong laptop, are stepped.
// After a step back of more than the window the pool starts a fresh replay
// guard for answers, which would otherwise refuse every answer until our
// time caught up with where it had pruned to; that loses nothing, since
// every answer must be bound to a request of ours with a fresh nonce.
// Status().Clock shows the measured offset of the computer's clock, the
// offset applied, how many nodes agreed and what was done; every step and
// slew is logged (slog, Warn for a step).
//
// Why this is safe. A ClockError is accepted only when every check of
// wire's Verify but freshness passed, the signature is the pinned node's,
// and the answer is bound to our request; so the only thing a node can do
// with it is say what time it is, which it could say in any answer anyway.
// Time decides freshness only: it is no part of a signature or of the
// binding of an answer to its request, so no clock, however wrong, makes
// us accept a forged answer or a replayed one (an old answer is bound to an
// old request). One lying node cannot move the clock at all: it needs a
// second node to agree, and if honest nodes are asked too, a lone liar's
// group is the smaller one. A group of liars larger than the honest nodes
// we hear can move our clock wherever it likes; then our requests are
// stale to every honest node, which refuse them, and their refusals are new
// evidence: denial of service while the liars are the majority of what we
// hear, never forgery or replay. One weaker effect remains, shared with any
// wrong clock: records whose validity has an expiry (registry entries,
// prekeys) are judged against our time, so a liar majority could make an
// expired but genuinely signed record look current.
package netclient
