package ledger

import "errors"

// Sentinel errors. Every refusal a caller (the cell runtime, a conduit, a
// test) must tell apart has its own sentinel; wrap them with %w and test
// with errors.Is.
var (
	// Amounts.
	ErrBadAmount         = errors.New("malformed amount")
	ErrNegativeAmount    = errors.New("negative amount")
	ErrAmountOverflow    = errors.New("amount overflows")
	ErrZeroAmount        = errors.New("amount must be positive")
	ErrInsufficientFunds = errors.New("insufficient funds")

	// Genesis.
	ErrBadGenesis   = errors.New("invalid genesis")
	ErrOutOfBounds  = errors.New("parameter outside its hard-coded safety bounds")
	ErrWrongNetwork = errors.New("object belongs to another network (genesis hash differs)")

	// Encoding.
	ErrMalformed    = errors.New("malformed encoding")
	ErrNonCanonical = errors.New("non-canonical encoding")

	// Blocks and signatures.
	ErrWrongKey           = errors.New("block signed by a key that does not own the account")
	ErrBadSignature       = errors.New("bad signature")
	ErrWrongSequence      = errors.New("wrong sequence number")
	ErrMissingPredecessor = errors.New("previous block of this account is not certified here yet")
	ErrWrongPrevious      = errors.New("previous hash does not match the account's head")
	ErrTreasuryAccount    = errors.New("the treasury has no key and no chain")
	ErrSelfTransfer       = errors.New("transfer to the same account")
	ErrWrongFee           = errors.New("fee differs from the genesis transfer fee")

	// Credits.
	ErrSourceNotCertified = errors.New("referenced block is not certified (or not known here yet)")
	ErrNotRecipient       = errors.New("referenced send pays another account")
	ErrAlreadyCredited    = errors.New("send already credited")
	ErrDuplicateSource    = errors.New("same send referenced twice in one block")
	ErrNotASend           = errors.New("referenced block is not a send")

	// Rewards.
	ErrBadBinding        = errors.New("node binding does not bind this node to this account")
	ErrUnknownAuditor    = errors.New("storage proof not signed by a genesis auditor")
	ErrSelfReceipt       = errors.New("delivery receipt signed by the earner itself")
	ErrHashMismatch      = errors.New("observed hash differs from expected: nothing to pay")
	ErrProofAlreadyPaid  = errors.New("proof already paid")
	ErrWrongReward       = errors.New("reward amount differs from the amount the proof earns")
	ErrTreasuryExhausted = errors.New("reward exceeds what the treasury may pay out")

	// Lanes and vouchers.
	ErrUnknownLane          = errors.New("lane unknown (its open block is not certified here)")
	ErrNotLanePayee         = errors.New("account is not the lane's payee")
	ErrNotLanePayer         = errors.New("account is not the lane's payer")
	ErrVoucherReplay        = errors.New("voucher nonce not above the last redeemed one")
	ErrVoucherNotIncreasing = errors.New("voucher cumulative amount not above the last redeemed one")
	ErrVoucherExceedsLane   = errors.New("voucher exceeds the lane's funds")
	ErrLaneClosed           = errors.New("lane already closed")
	ErrLaneSettled          = errors.New("lane already settled")
	ErrLaneNotClosed        = errors.New("lane not closed")
	ErrDisputeWindowOpen    = errors.New("dispute window still open")
	ErrRefundTooLarge       = errors.New("refund larger than the lane's unredeemed funds")
	ErrBadTimestamp         = errors.New("timestamp too far from the witness's clock")
	ErrLaneOverdrawn        = errors.New("lane paid out more than it holds (more than f witnesses misbehaved)")

	// Witnesses and certificates.
	ErrConflictingVote        = errors.New("already voted for a different block at this account and sequence")
	ErrUnknownWitness         = errors.New("signature by a key outside the genesis witness set")
	ErrDuplicateWitness       = errors.New("witness listed twice in a certificate")
	ErrInsufficientSignatures = errors.New("fewer valid witness signatures than the quorum")
	ErrVoteForOtherBlock      = errors.New("vote is for a different block")
	ErrConflictingCertificate = errors.New("two certificates for one account and sequence (more than f witnesses misbehaved)")
	ErrNotEquivocation        = errors.New("evidence does not show an equivocation")
	ErrWitnessFailed          = errors.New("witness stopped after a storage failure")
	ErrInvalidCertifiedBlock  = errors.New("certified block breaks the ledger rules (more than f witnesses misbehaved)")
)
