// Package relay makes nodes behind NAT full members of the network. A node
// learns the address its peers see it at (protocol "nat/1", kind observe),
// asks a peer to dial that address back from a fresh socket (dialback:
// only a forwarded or public address answers such unsolicited packets) and
// so knows whether it is reachable, which it publishes in its signed
// registry entry (registry.ReachPublic / ReachNAT). A reachable node serves
// as a relay: a node that is not reachable finds one on its LAN (a UDP
// broadcast probe) or among known peers, registers with it over a
// connection it keeps open, and advertises the relayed address
// transport.RelayAddr gives it. Diallers reach it through the relay with an
// inner QUIC connection that stays end-to-end encrypted and pinned to the
// node's key (see node/transport), so the relay forwards only ciphertext,
// within per-client limits (tunnels, bytes per second), and counts the
// bytes it carries per client, next to the client's own signed count (a
// receipt with each registration renewal), so it can be paid for them.
// After every relayed dial a node tries a direct path by punching holes at
// the peer's observed address while the peer punches at its own,
// coordinated over the relayed connection, and keeps the relay if that
// fails. DESIGN.md explains the choices.
package relay
