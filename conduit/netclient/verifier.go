package netclient

import (
	"sync/atomic"

	"github.com/borgios/borgios/node/wire"
)

// swapVerifier is the pool's one Verify for answers, renewable: after the
// clock steps back past the window, the old replay guard would refuse
// every answer until our time caught up with where it had pruned to.
type swapVerifier struct {
	network string
	now     func() int64
	v       atomic.Pointer[wire.Verifier]
}

func newSwapVerifier(network string, now func() int64) *swapVerifier {
	s := &swapVerifier{network: network, now: now}
	s.renew()
	return s
}

// Verify is wire.Verifier.Verify of the current guard.
func (s *swapVerifier) Verify(b []byte) (*wire.Envelope, error) { return s.v.Load().Verify(b) }

func (s *swapVerifier) renew() {
	s.v.Store(wire.NewVerifier(wire.Config{Network: s.network, Now: s.now}))
}
