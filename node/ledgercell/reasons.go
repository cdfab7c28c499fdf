package ledgercell

import (
	"errors"

	"github.com/borgios/borgios/node/ledger"
)

// reasons names the core's refusals on the wire, so a client far away can
// still test a witness's refusal with errors.Is(err, ledger.ErrXxx).
var reasons = []struct {
	name string
	err  error
}{
	{voteConflict, ledger.ErrConflictingVote},
	{voteFailed, ledger.ErrWitnessFailed},
	{"missing-predecessor", ledger.ErrMissingPredecessor},
	{"source-not-certified", ledger.ErrSourceNotCertified},
	{"unknown-lane", ledger.ErrUnknownLane},
	{"insufficient-funds", ledger.ErrInsufficientFunds},
	{"wrong-sequence", ledger.ErrWrongSequence},
	{"wrong-previous", ledger.ErrWrongPrevious},
	{"wrong-fee", ledger.ErrWrongFee},
	{"self-transfer", ledger.ErrSelfTransfer},
	{"zero-amount", ledger.ErrZeroAmount},
	{"already-credited", ledger.ErrAlreadyCredited},
	{"not-recipient", ledger.ErrNotRecipient},
	{"not-a-send", ledger.ErrNotASend},
	{"duplicate-source", ledger.ErrDuplicateSource},
	{"treasury-account", ledger.ErrTreasuryAccount},
	{"bad-signature", ledger.ErrBadSignature},
	{"wrong-key", ledger.ErrWrongKey},
	{"wrong-network", ledger.ErrWrongNetwork},
	{"amount-overflow", ledger.ErrAmountOverflow},
	{"hash-mismatch", ledger.ErrHashMismatch},
	{"already-paid", ledger.ErrProofAlreadyPaid},
	{"unknown-auditor", ledger.ErrUnknownAuditor},
	{"self-receipt", ledger.ErrSelfReceipt},
	{"bad-binding", ledger.ErrBadBinding},
	{"wrong-reward", ledger.ErrWrongReward},
	{"treasury-exhausted", ledger.ErrTreasuryExhausted},
	{"out-of-bounds", ledger.ErrOutOfBounds},
	{"not-for-this-node", ErrNotForThisNode},
	{"not-bound", ErrNotBound},
	{"voucher-replay", ledger.ErrVoucherReplay},
	{"voucher-not-increasing", ledger.ErrVoucherNotIncreasing},
	{"voucher-exceeds-lane", ledger.ErrVoucherExceedsLane},
	{"lane-closed", ledger.ErrLaneClosed},
	{"lane-settled", ledger.ErrLaneSettled},
	{"lane-not-closed", ledger.ErrLaneNotClosed},
	{"dispute-window-open", ledger.ErrDisputeWindowOpen},
	{"refund-too-large", ledger.ErrRefundTooLarge},
	{"bad-timestamp", ledger.ErrBadTimestamp},
	{"not-lane-payee", ledger.ErrNotLanePayee},
	{"not-lane-payer", ledger.ErrNotLanePayer},
}

// reasonOf names err for the wire; unknown refusals are "refused".
func reasonOf(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return voteRefused
}

// reasonErr is the core sentinel a wire reason stands for, or nil.
func reasonErr(name string) error {
	for _, r := range reasons {
		if r.name == name {
			return r.err
		}
	}
	return nil
}

// missingDep reports whether a refusal only means the witness lacks a
// certificate the block depends on, which the client can push to it.
func missingDep(name string) bool {
	return name == "missing-predecessor" || name == "source-not-certified" || name == "unknown-lane"
}
