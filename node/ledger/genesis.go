package ledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
)

// Hard-coded safety bounds. No genesis file and no later parameter change
// (governance comes later and must call Params.Validate) can move a
// parameter outside them; they are the promise the code makes to every
// holder of shells regardless of who controls the witness set.
const (
	MinWitnesses = 1   // one stick alone is a working single-node network
	MaxWitnesses = 100 // a certificate stays small and verifiable on a Pi
	MaxAuditors  = 100
	// MaxAllocations bounds genesis allocations to accounts other than the
	// treasury (faucet and test accounts).
	MaxAllocations = 100_000

	MaxTransferFee       = 1 * MicroPerShell
	MaxStorageRate       = 10 * MicroPerShell // per GiB per proof period
	MaxBandwidthRate     = 10 * MicroPerShell // per GiB delivered
	MaxProofBytes        = 1 << 40            // one proof covers at most 1 TiB
	MinDisputeWindowMs   = 60_000             // a payee offline for a minute keeps its money
	MaxDisputeWindowMs   = 7 * 24 * 3600_000
	MinClockSkewMs       = 1_000
	MaxClockSkewMs       = 10 * 60_000
	maxNetworkIDLen      = 32
	gib                  = 1 << 30
	genesisDomain        = "borgios/ledger/genesis/v1\x00"
	treasuryDomain       = "borgios/ledger/treasury/v1\x00"
	genesisEncodingMagic = 1
)

// Treasury is the account that holds every shell at genesis and pays
// rewards. It is the hash of a label, so it is not a public key anyone
// holds the secret for: the treasury cannot sign blocks, and shells leave it
// only through reward blocks that witnesses check against proofs.
var Treasury = AccountID(hashWith(treasuryDomain))

// Params are the economic parameters fixed at genesis.
type Params struct {
	// TransferFee is charged on every send and flows back to the treasury,
	// which recycles it as rewards.
	TransferFee Amount `json:"transfer_fee"`
	// StorageRate is paid per GiB per proof period for a storage proof.
	StorageRate Amount `json:"storage_rate_per_gib_period"`
	// BandwidthRate is paid per GiB of bytes a reader confirmed.
	BandwidthRate Amount `json:"bandwidth_rate_per_gib"`
	// DisputeWindowMs is how long after a lane close the payee may still
	// redeem a higher voucher.
	DisputeWindowMs uint64 `json:"dispute_window_ms"`
	// MaxClockSkewMs is how far a lane close's timestamp may be from a
	// witness's clock.
	MaxClockSkewMs uint64 `json:"max_clock_skew_ms"`
}

// Validate checks the hard-coded bounds.
func (p *Params) Validate() error {
	switch {
	case p.TransferFee > MaxTransferFee:
		return fmt.Errorf("transfer fee %s > %s: %w", p.TransferFee, MaxTransferFee, ErrOutOfBounds)
	case p.StorageRate > MaxStorageRate:
		return fmt.Errorf("storage rate %s > %s: %w", p.StorageRate, MaxStorageRate, ErrOutOfBounds)
	case p.BandwidthRate > MaxBandwidthRate:
		return fmt.Errorf("bandwidth rate %s > %s: %w", p.BandwidthRate, MaxBandwidthRate, ErrOutOfBounds)
	case p.DisputeWindowMs < MinDisputeWindowMs || p.DisputeWindowMs > MaxDisputeWindowMs:
		return fmt.Errorf("dispute window %d ms outside [%d, %d]: %w", p.DisputeWindowMs, MinDisputeWindowMs, MaxDisputeWindowMs, ErrOutOfBounds)
	case p.MaxClockSkewMs < MinClockSkewMs || p.MaxClockSkewMs > MaxClockSkewMs:
		return fmt.Errorf("clock skew %d ms outside [%d, %d]: %w", p.MaxClockSkewMs, MinClockSkewMs, MaxClockSkewMs, ErrOutOfBounds)
	}
	return nil
}

// Allocation gives an account shells from the treasury at genesis.
type Allocation struct {
	Account AccountID
	Amount  Amount
}

// Genesis is the trust root of a network: its ID, the witness set whose
// quorum certifies blocks, the auditors whose storage proofs earn rewards,
// the economic parameters, and where the fixed supply starts. Everything
// signed on the network commits to its Hash.
type Genesis struct {
	NetworkID   string
	Witnesses   []ed25519.PublicKey
	Auditors    []ed25519.PublicKey
	Params      Params
	Allocations []Allocation

	hash     Hash
	treasury Amount // supply left in the treasury after allocations
	f, q     int
	witIndex map[AccountID]int
	sigs     *sigCache // witness signatures verified by this process
	witKeys  *keyCache // the witnesses' expanded keys, built once
	auditors map[AccountID]bool
}

// genesisJSON is the human-edited file format. Keys are hex so the file
// does not depend on node/identity; the runtime may show them as borg1
// addresses.
type genesisJSON struct {
	NetworkID    string           `json:"network_id"`
	SupplyShells uint64           `json:"supply_shells"`
	Witnesses    []string         `json:"witnesses"`
	Auditors     []string         `json:"auditors,omitempty"`
	Params       Params           `json:"params"`
	Allocations  []allocationJSON `json:"allocations,omitempty"`
}

type allocationJSON struct {
	Account string `json:"account"`
	Amount  Amount `json:"shells"`
}

// NewGenesis validates its arguments against the bounds and computes the
// genesis hash. The treasury keeps TotalSupply minus the allocations.
func NewGenesis(networkID string, witnesses, auditors []ed25519.PublicKey, p Params, allocs []Allocation) (*Genesis, error) {
	g := &Genesis{NetworkID: networkID, Witnesses: witnesses, Auditors: auditors, Params: p, Allocations: allocs}
	if err := g.init(); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *Genesis) init() error {
	if n := len(g.NetworkID); n == 0 || n > maxNetworkIDLen {
		return fmt.Errorf("network ID length %d not in [1, %d]: %w", n, maxNetworkIDLen, ErrBadGenesis)
	}
	for _, c := range []byte(g.NetworkID) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("network ID %q: only a-z 0-9 - . allowed: %w", g.NetworkID, ErrBadGenesis)
		}
	}
	if n := len(g.Witnesses); n < MinWitnesses || n > MaxWitnesses {
		return fmt.Errorf("%d witnesses not in [%d, %d]: %w", n, MinWitnesses, MaxWitnesses, ErrOutOfBounds)
	}
	if len(g.Auditors) > MaxAuditors {
		return fmt.Errorf("%d auditors > %d: %w", len(g.Auditors), MaxAuditors, ErrOutOfBounds)
	}
	if len(g.Allocations) > MaxAllocations {
		return fmt.Errorf("%d allocations > %d: %w", len(g.Allocations), MaxAllocations, ErrOutOfBounds)
	}
	if err := g.Params.Validate(); err != nil {
		return fmt.Errorf("genesis params: %w", err)
	}
	g.witIndex = make(map[AccountID]int, len(g.Witnesses))
	for i, k := range g.Witnesses {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("witness %d: key length %d: %w", i, len(k), ErrBadGenesis)
		}
		id := AccountID(k)
		if _, dup := g.witIndex[id]; dup {
			return fmt.Errorf("witness %d listed twice: %w", i, ErrBadGenesis)
		}
		g.witIndex[id] = i
	}
	g.auditors = make(map[AccountID]bool, len(g.Auditors))
	for i, k := range g.Auditors {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("auditor %d: key length %d: %w", i, len(k), ErrBadGenesis)
		}
		g.auditors[AccountID(k)] = true
	}
	left := TotalSupply
	seen := make(map[AccountID]bool, len(g.Allocations))
	for i, a := range g.Allocations {
		if a.Account == Treasury || seen[a.Account] {
			return fmt.Errorf("allocation %d: treasury or duplicate account: %w", i, ErrBadGenesis)
		}
		if a.Amount == 0 {
			return fmt.Errorf("allocation %d: %w", i, ErrZeroAmount)
		}
		seen[a.Account] = true
		var err error
		if left, err = left.Sub(a.Amount); err != nil {
			return fmt.Errorf("allocations exceed the supply: %w", ErrBadGenesis)
		}
	}
	g.treasury = left
	n := len(g.Witnesses)
	g.f = (n - 1) / 3
	// Two quorums must share at least f+1 witnesses (so at least one honest
	// one) whatever n is: 2q - n >= f+1. For n = 3f+1 this is q = 2f+1.
	g.q = (n + g.f + 2) / 2
	g.hash = hashWith(genesisDomain, g.encode())
	g.sigs = newSigCache()
	g.witKeys = newKeyCache(max(len(g.Witnesses), 1))
	return nil
}

// encode is the canonical binary form the genesis hash covers; it is built
// from the parsed values, so JSON whitespace and key order do not matter.
func (g *Genesis) encode() []byte {
	var w writer
	w.u8(genesisEncodingMagic)
	w.str8(g.NetworkID)
	w.amount(TotalSupply)
	w.u16(uint16(len(g.Witnesses)))
	for _, k := range g.Witnesses {
		w.bytes(k)
	}
	w.u16(uint16(len(g.Auditors)))
	for _, k := range g.Auditors {
		w.bytes(k)
	}
	w.amount(g.Params.TransferFee)
	w.amount(g.Params.StorageRate)
	w.amount(g.Params.BandwidthRate)
	w.u64(g.Params.DisputeWindowMs)
	w.u64(g.Params.MaxClockSkewMs)
	w.u32(uint32(len(g.Allocations)))
	for _, a := range g.Allocations {
		w.acct(a.Account)
		w.amount(a.Amount)
	}
	return w.b
}

// Hash is the genesis hash every block, vote, proof and voucher commits to.
func (g *Genesis) Hash() Hash { return g.hash }

// F is the number of faulty witnesses the set tolerates.
func (g *Genesis) F() int { return g.f }

// Quorum is the number of distinct witness signatures a certificate needs.
func (g *Genesis) Quorum() int { return g.q }

// TreasuryStart is what the treasury holds at genesis.
func (g *Genesis) TreasuryStart() Amount { return g.treasury }

// WitnessIndex returns the position of key in the witness set.
func (g *Genesis) WitnessIndex(key ed25519.PublicKey) (int, bool) {
	if len(key) != ed25519.PublicKeySize {
		return 0, false
	}
	i, ok := g.witIndex[AccountID(key)]
	return i, ok
}

// IsAuditor reports whether k may sign storage proofs.
func (g *Genesis) IsAuditor(k AccountID) bool { return g.auditors[k] }

// RewardCap is the most any single witness votes to pay out in rewards in
// total. Rewards are claimed on many chains at once with no total order,
// so witnesses can disagree on what has been paid; but every certified
// reward has at least f+1 honest voters, hence
// paid*(f+1) <= sum of honest witnesses' voted totals <= n*cap, and
// cap = treasury*(f+1)/n keeps the treasury from ever going negative.
func (g *Genesis) RewardCap() Amount {
	c, _ := mulDiv(uint64(g.treasury), uint64(g.f+1), uint64(len(g.Witnesses)))
	return c
}

// ParseGenesis reads the JSON genesis format and validates it.
func ParseGenesis(data []byte) (*Genesis, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j genesisJSON
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("parse genesis: %w: %w", ErrBadGenesis, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("parse genesis: trailing data: %w", ErrBadGenesis)
	}
	if j.SupplyShells != uint64(TotalSupply/MicroPerShell) {
		return nil, fmt.Errorf("supply %d shells, the network has exactly %d: %w", j.SupplyShells, TotalSupply/MicroPerShell, ErrOutOfBounds)
	}
	keys := func(what string, in []string) ([]ed25519.PublicKey, error) {
		out := make([]ed25519.PublicKey, 0, len(in))
		for i, s := range in {
			a, err := ParseAccount(s)
			if err != nil {
				return nil, fmt.Errorf("%s %d: %w", what, i, err)
			}
			out = append(out, ed25519.PublicKey(a[:]))
		}
		return out, nil
	}
	w, err := keys("witness", j.Witnesses)
	if err != nil {
		return nil, err
	}
	a, err := keys("auditor", j.Auditors)
	if err != nil {
		return nil, err
	}
	allocs := make([]Allocation, 0, len(j.Allocations))
	for i, al := range j.Allocations {
		id, err := ParseAccount(al.Account)
		if err != nil {
			return nil, fmt.Errorf("allocation %d: %w", i, err)
		}
		allocs = append(allocs, Allocation{Account: id, Amount: al.Amount})
	}
	return NewGenesis(j.NetworkID, w, a, j.Params, allocs)
}

// LoadGenesis reads and validates a genesis file.
func LoadGenesis(path string) (*Genesis, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load genesis: %w", err)
	}
	return ParseGenesis(data)
}

// MarshalJSON writes the file format, so a tool can generate a genesis
// file that ParseGenesis reads back to the same hash.
func (g *Genesis) MarshalJSON() ([]byte, error) {
	j := genesisJSON{NetworkID: g.NetworkID, SupplyShells: uint64(TotalSupply / MicroPerShell), Params: g.Params}
	for _, k := range g.Witnesses {
		j.Witnesses = append(j.Witnesses, AccountID(k).String())
	}
	for _, k := range g.Auditors {
		j.Auditors = append(j.Auditors, AccountID(k).String())
	}
	for _, a := range g.Allocations {
		j.Allocations = append(j.Allocations, allocationJSON{Account: a.Account.String(), Amount: a.Amount})
	}
	return json.MarshalIndent(j, "", "  ")
}

// DefaultParams are sensible starting values, well inside the bounds.
func DefaultParams() Params {
	return Params{
		TransferFee:     1_000,   // 0.001 shell
		StorageRate:     100_000, // 0.1 shell per GiB per period
		BandwidthRate:   10_000,  // 0.01 shell per GiB
		DisputeWindowMs: 12 * 3600_000,
		MaxClockSkewMs:  30_000,
	}
}
