//go:build !unix

package relay

import "net"

// listenBroadcast opens an IPv4 UDP socket; without SO_BROADCAST here only
// directed broadcasts may get through.
func listenBroadcast() (net.PacketConn, error) { return net.ListenPacket("udp4", ":0") }
