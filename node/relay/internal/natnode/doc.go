// Command natnode is a small node for the NAT tests (node/relay
// netns_test.go): transport, NAT detection and relaying, the registry and
// shard cells, started in that order so that a NATed node joins its trees
// with its relayed address. In client mode it also stores a file on the
// nodes named by -store-on and reads it back, as the conduit would. It
// prints KEY, ADDR, REACH, ENTRIES and GOT lines for the test to read, and
// exits when stdin closes.
package main
