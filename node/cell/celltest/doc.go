// Package celltest runs a real network of cell runtimes on 127.0.0.1 for
// tests: every node has its own key, QUIC transport and envelope verifier,
// starts whatever cell types the test gives it, and is killed abruptly
// (transport first, no goodbye) at the end of the test or when the test
// says so. Waiting helpers poll with generous deadlines, never timing
// assertions, so tests hold up under -race on a loaded machine.
//
// It imports only the cell runtime and the layers below it, so the tests
// of any service package (registry included) can use it without a cycle.
package celltest
