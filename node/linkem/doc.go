// Package linkem emulates a wide-area link in user space, since the test
// machines' kernels have no netem: a UDP relay whose every datagram waits
// a fixed one-way delay, passes a token-bucket rate limit through a
// bounded FIFO queue that drops when full (a router's tail drop), and may
// be lost at random. A test starts a Link in front of any UDP service
// (a QUIC node, an HTTP/3 server) and dials Link.Addr instead.
package linkem
