package ledgercell

import (
	"fmt"

	"github.com/borgios/borgios/node/ledger"
	"github.com/borgios/borgios/node/wire"
)

// Request kinds of the ledger receptor.
const (
	KindVote        = "vote"        // voteRequest -> voteAnswer (witnesses only)
	KindConfirm     = "confirm"     // confirmRequest -> confirmAnswer
	KindSubmit      = "submit"      // submitRequest -> certificate bytes
	KindBalance     = "balance"     // accountRequest -> accountAnswer
	KindHead        = "head"        // accountRequest -> accountAnswer (no pending list)
	KindChain       = "chain"       // chainRequest -> chainAnswer
	KindBlock       = "block"       // hashRequest -> block bytes
	KindCertificate = "certificate" // hashRequest -> certificate bytes
	KindHistory     = "history"     // historyRequest -> historyAnswer
	KindCerts       = "certs"       // certsRequest -> certsAnswer (catch-up)
	KindGenesis     = "genesis"     // nothing -> genesis JSON
	// kindSpread is the broadcast kind carrying new certificates.
	kindSpread = "certs"
)

// Limits. An answer envelope may hold 1 MiB; pages stop well before that.
const (
	MaxVoteBatch    = 256
	MaxConfirmBatch = 256
	MaxPage         = 256
	// MaxInvPage bounds a catch-up inventory page (32-byte hashes).
	MaxInvPage   = 4096
	maxPageBytes = 640 << 10
	maxRequest   = 512 << 10
	maxPending   = ledger.MaxReceiveSources
)

// Vote result codes: what a client must tell apart per block.
const (
	voteOK       = ""
	voteConflict = "conflict" // ledger.ErrConflictingVote
	voteMissing  = "missing"  // a dependency is not certified at this witness yet
	voteRefused  = "refused"  // any other ledger rule
	voteFailed   = "failed"   // the witness stopped after a disk failure
)

type voteRequest struct {
	Blocks [][]byte `cbor:"1,keyasint"`
	// Certs are certificates to confirm before voting (pushes riding on
	// the vote request); Spread as in confirmRequest.
	Certs  [][]byte `cbor:"2,keyasint,omitempty"`
	Spread bool     `cbor:"3,keyasint,omitempty"`
}

type voteResult struct {
	Vote []byte `cbor:"1,keyasint,omitempty"`
	Code string `cbor:"2,keyasint,omitempty"`
	Msg  string `cbor:"3,keyasint,omitempty"`
	// Voted is, for a conflict, the block this witness voted for at that
	// slot when it still knows it, so the owner can finish that one.
	Voted []byte `cbor:"4,keyasint,omitempty"`
}

type voteAnswer struct {
	Results []voteResult `cbor:"1,keyasint"`
	// Confirm is what the request's certificates did, when it had some.
	Confirm *confirmAnswer `cbor:"2,keyasint,omitempty"`
}

type confirmRequest struct {
	Certs [][]byte `cbor:"1,keyasint"`
	// Spread asks the node to broadcast the certificates it did not know
	// to the whole cell; a client sets it on one node only.
	Spread bool `cbor:"2,keyasint,omitempty"`
}

type confirmAnswer struct {
	Applied int      `cbor:"1,keyasint"`
	Known   int      `cbor:"2,keyasint"`
	Errors  []string `cbor:"3,keyasint,omitempty"`
}

type submitRequest struct {
	Block []byte `cbor:"1,keyasint"`
}

type accountRequest struct {
	Account []byte `cbor:"1,keyasint"`
}

// PendingSend is a certified send (or reward payout) to an account that
// its chain has not credited yet.
type PendingSend struct {
	Hash   []byte `cbor:"1,keyasint" json:"hash"`
	From   []byte `cbor:"2,keyasint" json:"from"` // the treasury for earnings
	Amount uint64 `cbor:"3,keyasint" json:"amount"`
	// Work is "storage" or "delivery" for a reward paid by the treasury
	// for a node's verified work, and Node the node that did it; empty for
	// a send.
	Work string `cbor:"4,keyasint,omitempty" json:"work,omitempty"`
	Node []byte `cbor:"5,keyasint,omitempty" json:"node,omitempty"`
}

type accountAnswer struct {
	Balance uint64        `cbor:"1,keyasint"`
	Next    uint64        `cbor:"2,keyasint"`
	Head    []byte        `cbor:"3,keyasint,omitempty"`
	Pending []PendingSend `cbor:"4,keyasint,omitempty"`
}

type chainRequest struct {
	Account []byte `cbor:"1,keyasint"`
	From    uint64 `cbor:"2,keyasint,omitempty"`
	Limit   int    `cbor:"3,keyasint,omitempty"`
}

type chainAnswer struct {
	Certs [][]byte `cbor:"1,keyasint"`
	// Sources are the certificates of the sends the page's receive
	// blocks credit, so the page verifies on its own.
	Sources [][]byte `cbor:"2,keyasint,omitempty"`
	// Next is the sequence the next page starts at; equal to the chain
	// length on the last page.
	Next uint64 `cbor:"3,keyasint"`
	More bool   `cbor:"4,keyasint,omitempty"`
}

type hashRequest struct {
	Hash []byte `cbor:"1,keyasint"`
}

type historyRequest struct {
	Account []byte `cbor:"1,keyasint"`
	Limit   int    `cbor:"2,keyasint,omitempty"`
}

// HistoryItem is one line of an account's history, newest first.
type HistoryItem struct {
	Hash         []byte `cbor:"1,keyasint" json:"hash"`
	Seq          uint64 `cbor:"2,keyasint" json:"seq"`
	Kind         string `cbor:"3,keyasint" json:"kind"` // send, receive, incoming, reward, lane-open, ...
	Counterparty []byte `cbor:"4,keyasint,omitempty" json:"counterparty,omitempty"`
	Amount       uint64 `cbor:"5,keyasint" json:"amount"`
	Fee          uint64 `cbor:"6,keyasint,omitempty" json:"fee,omitempty"`
	Credited     bool   `cbor:"7,keyasint,omitempty" json:"credited,omitempty"`
	// Work is "storage" or "delivery" for an incoming reward (Counterparty
	// is then the treasury and Node the node whose work earned it) and for
	// a "reward" block on a node's own chain.
	Work string `cbor:"8,keyasint,omitempty" json:"work,omitempty"`
	Node []byte `cbor:"9,keyasint,omitempty" json:"node,omitempty"`
}

type historyAnswer struct {
	Items []HistoryItem `cbor:"1,keyasint"`
}

// certsRequest asks for a page of the node's certificate order from
// From: the certificates, or with Inv only their block hashes (up to
// MaxInvPage), so a node that the pushes and broadcasts already reached
// fetches the few it lacks by Want (block hashes, up to MaxPage) instead
// of every certificate again. A node that predates Inv and Want ignores
// them and answers a page of certificates, which the caller accepts too.
type certsRequest struct {
	From  int      `cbor:"1,keyasint"`
	Limit int      `cbor:"2,keyasint,omitempty"`
	Inv   bool     `cbor:"3,keyasint,omitempty"`
	Want  [][]byte `cbor:"4,keyasint,omitempty"`
}

type certsAnswer struct {
	Certs  [][]byte `cbor:"1,keyasint"`
	Next   int      `cbor:"2,keyasint"`
	Total  int      `cbor:"3,keyasint"`
	Hashes [][]byte `cbor:"4,keyasint,omitempty"` // for Inv
}

// spreadPayload is the broadcast announcing new certificates: their
// block hashes (a node fetches the ones it lacks from a tree neighbour or
// the sender, see fetchAnnounced), or, from a node that predates
// announcements, the certificates themselves.
type spreadPayload struct {
	Certs  [][]byte `cbor:"1,keyasint,omitempty"`
	Hashes [][]byte `cbor:"2,keyasint,omitempty"`
}

// decodeCerts decodes certificate bytes from the network; the caller
// verifies them.
func decodeCerts(raw [][]byte, limit int) ([]*ledger.Certificate, error) {
	if len(raw) > limit {
		return nil, fmt.Errorf("%d certificates, at most %d", len(raw), limit)
	}
	out := make([]*ledger.Certificate, 0, len(raw))
	for i, b := range raw {
		// The CBOR decoder gave each byte string its own copy, so the
		// certificate may keep it as its encoding (stored, served and
		// spread without re-encoding).
		c, err := ledger.DecodeCertificateKeep(b)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// decodeFresh is decodeCerts for certificates that mostly repeat what
// the node holds (broadcasts and catch-up pages at a node the pushes
// already reached): those are recognised by the block hash over their
// bytes and dropped before any decoding; skipped counts them.
func (c *Cell) decodeFresh(raw [][]byte, limit int) (certs []*ledger.Certificate, skipped int, err error) {
	if len(raw) > limit {
		return nil, 0, fmt.Errorf("%d certificates, at most %d", len(raw), limit)
	}
	hs := make([]ledger.Hash, len(raw))
	for i, b := range raw {
		if hs[i], err = ledger.CertificateBlockHash(b); err != nil {
			return nil, 0, fmt.Errorf("certificate %d: %w", i, err)
		}
	}
	have := make([]bool, len(raw))
	c.mu.Lock()
	for i, h := range hs {
		_, have[i] = c.led.Certificate(h)
	}
	c.mu.Unlock()
	certs = make([]*ledger.Certificate, 0, len(raw))
	for i, b := range raw {
		if have[i] {
			skipped++
			continue
		}
		ct, err := ledger.DecodeCertificateKeep(b)
		if err != nil {
			return nil, 0, fmt.Errorf("certificate %d: %w", i, err)
		}
		certs = append(certs, ct)
	}
	return certs, skipped, nil
}

func decodeBlocks(raw [][]byte, limit int) ([]*ledger.Block, error) {
	if len(raw) == 0 || len(raw) > limit {
		return nil, fmt.Errorf("%d blocks, want 1..%d", len(raw), limit)
	}
	out := make([]*ledger.Block, 0, len(raw))
	for i, b := range raw {
		blk, err := ledger.DecodeBlock(b)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", i, err)
		}
		out = append(out, blk)
	}
	return out, nil
}

func encodeCerts(cs []*ledger.Certificate) [][]byte {
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Encode()
	}
	return out
}

func accountOf(b []byte) (ledger.AccountID, error) {
	var a ledger.AccountID
	if len(b) != len(a) {
		return a, fmt.Errorf("account of %d bytes, want %d", len(b), len(a))
	}
	copy(a[:], b)
	return a, nil
}

func hashOf(b []byte) (ledger.Hash, error) {
	var h ledger.Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("hash of %d bytes, want %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

func marshal(v any) ([]byte, error) { return wire.Marshal(v) }
