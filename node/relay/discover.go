package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/borgios/borgios/node/cell"
)

// LAN discovery: a NATed node broadcasts a probe on its LAN; every relay
// there answers with its key and node port, and the prober takes the
// answer's source IP. Only a relay's key is learnt this way: the prober
// then talks to it over the transport, which pins that key, and relayed
// traffic is end-to-end to the final node anyway, so a false answer can at
// worst offer a relay that does not work.
var (
	probeMagic  = []byte("BGD1")
	answerMagic = []byte("BGA1")
)

const nonceLen = 8

// startDiscoveryResponder answers LAN probes while this node relays.
func (s *Service) startDiscoveryResponder() {
	if s.cfg.DiscoveryPort < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.disc != nil || s.ctx.Err() != nil {
		return
	}
	pc, err := net.ListenPacket("udp4", ":"+strconv.Itoa(s.cfg.DiscoveryPort))
	if err != nil {
		s.log.Warn("LAN discovery responder off", "err", err)
		return
	}
	s.disc = pc
	s.wg.Add(1)
	go s.respond(pc)
}

func (s *Service) respond(pc net.PacketConn) {
	defer s.wg.Done()
	port := uint16(0)
	if ua, ok := s.tr.LocalAddr().(*net.UDPAddr); ok {
		port = uint16(ua.Port)
	}
	buf := make([]byte, 64)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if n != len(probeMagic)+nonceLen || !bytes.Equal(buf[:len(probeMagic)], probeMagic) {
			continue
		}
		ans := append([]byte{}, answerMagic...)
		ans = append(ans, buf[len(probeMagic):n]...)
		ans = append(ans, s.pub...)
		ans = binary.BigEndian.AppendUint16(ans, port)
		_, _ = pc.WriteTo(ans, from)
	}
}

// parseAnswer decodes a discovery answer for nonce; the fuzz target's subject.
func parseAnswer(b, nonce []byte) (key ed25519.PublicKey, port uint16, ok bool) {
	want := len(answerMagic) + nonceLen + ed25519.PublicKeySize + 2
	if len(b) != want || !bytes.Equal(b[:len(answerMagic)], answerMagic) || !bytes.Equal(b[len(answerMagic):len(answerMagic)+nonceLen], nonce) {
		return nil, 0, false
	}
	off := len(answerMagic) + nonceLen
	key = bytes.Clone(b[off : off+ed25519.PublicKeySize])
	port = binary.BigEndian.Uint16(b[off+ed25519.PublicKeySize:])
	return key, port, port != 0
}

// Discover broadcasts a probe on every IPv4 LAN this host is on and
// collects the relays that answer within wait.
func (s *Service) Discover(ctx context.Context, wait time.Duration) ([]cell.Target, error) {
	port := s.cfg.DiscoveryPort
	if port < 0 {
		return nil, nil
	}
	pc, err := listenBroadcast()
	if err != nil {
		return nil, fmt.Errorf("relay: discovery socket: %w", err)
	}
	defer pc.Close()
	nonce := make([]byte, nonceLen)
	_, _ = rand.Read(nonce)
	probe := append(append([]byte{}, probeMagic...), nonce...)
	for _, b := range broadcastAddrs() {
		_, _ = pc.WriteTo(probe, net.UDPAddrFromAddrPort(netip.AddrPortFrom(b, uint16(port))))
	}
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = pc.SetReadDeadline(deadline)
	seen := map[string]bool{}
	var out []cell.Target
	buf := make([]byte, 128)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		key, nport, ok := parseAnswer(buf[:n], nonce)
		ua, isUDP := from.(*net.UDPAddr)
		if !ok || !isUDP || key.Equal(s.pub) {
			continue
		}
		addr := netip.AddrPortFrom(ua.AddrPort().Addr().Unmap(), nport).String()
		if !seen[addr] {
			seen[addr] = true
			out = append(out, cell.Target{Key: key, Addr: addr})
		}
	}
	sortTargets(out)
	return out, nil
}

// broadcastAddrs are the limited broadcast address and the directed
// broadcast address of every up IPv4 interface.
func broadcastAddrs() []netip.Addr {
	out := []netip.Addr{netip.AddrFrom4([4]byte{255, 255, 255, 255})}
	ifs, err := net.Interfaces()
	if err != nil {
		return out
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagBroadcast == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			ip, mask := ipn.IP.To4(), net.IP(ipn.Mask).To4()
			if mask == nil {
				continue
			}
			var b [4]byte
			for i := range b {
				b[i] = ip[i] | ^mask[i]
			}
			out = append(out, netip.AddrFrom4(b))
		}
	}
	return out
}
