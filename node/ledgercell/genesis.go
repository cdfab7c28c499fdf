package ledgercell

import (
	"crypto/ed25519"
	"fmt"
	"slices"

	"github.com/borgios/borgios/node/ledger"
)

// DevNetwork is the network ID of DevGenesis.
const DevNetwork = "borgios-dev"

// DevGenesis is the deterministic genesis of a development or demo network:
// the given node keys are the witness set (sorted, so every node that is
// handed the same keys in any order derives the same genesis hash) and also
// the auditor set (their scrubs' storage proofs earn their holders shells),
// default parameters, and the treasury holds all 20,000,000 shells
// except what allocs hand out (a demo faucet, test accounts).
func DevGenesis(witnesses []ed25519.PublicKey, allocs ...ledger.Allocation) (*ledger.Genesis, error) {
	ws := slices.Clone(witnesses)
	slices.SortFunc(ws, func(a, b ed25519.PublicKey) int { return slices.Compare(a, b) })
	g, err := ledger.NewGenesis(DevNetwork, ws, ws, ledger.DefaultParams(), allocs)
	if err != nil {
		return nil, fmt.Errorf("dev genesis: %w", err)
	}
	return g, nil
}
