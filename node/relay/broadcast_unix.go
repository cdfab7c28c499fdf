//go:build unix

package relay

import (
	"context"
	"net"
	"syscall"
)

// listenBroadcast opens an IPv4 UDP socket allowed to send broadcasts.
func listenBroadcast() (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.ListenPacket(context.Background(), "udp4", ":0")
}
