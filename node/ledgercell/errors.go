package ledgercell

import (
	"errors"
	"strconv"
)

// Sentinel errors callers tell apart with errors.Is. Ledger rule failures
// keep the core's sentinels (ledger.ErrInsufficientFunds, ...) where a
// witness reported one.
var (
	// ErrNoQuorum: not enough witnesses voted for the block (some were
	// unreachable or refused); nothing is lost, the same block can be
	// submitted again later.
	ErrNoQuorum = errors.New("not enough witness votes for a certificate")
	// ErrConflict: witnesses hold a vote for another block at this account
	// and sequence, so this block can never be certified.
	ErrConflict = errors.New("another block holds the witnesses' votes at this sequence")
	// ErrRejected: witnesses refused the block under the ledger rules.
	ErrRejected = errors.New("witnesses refused the block")
	// ErrNotWitness: the node is not in the genesis witness set.
	ErrNotWitness = errors.New("this node is not a genesis witness")
	// ErrNoWitnesses: no witness endpoint is known.
	ErrNoWitnesses = errors.New("no witness endpoints known")
	// ErrBadChain: an account chain or certificate from a node failed
	// verification (the node that sent it is faulty or lying).
	ErrBadChain = errors.New("account chain does not verify")
	// ErrNotBound: this node has no valid binding to an owner account, so
	// it cannot claim rewards yet.
	ErrNotBound = errors.New("node is not bound to an owner account")
	// ErrNotForThisNode: a service proof names another node.
	ErrNotForThisNode = errors.New("service proof is for another node")
	// ErrUnknownNode: no endpoint is known for a node key.
	ErrUnknownNode = errors.New("no endpoint known for the node")
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

type limitError int

func (l limitError) Error() string { return "limit " + strconv.Itoa(int(l)) + " out of range" }

func errLimit(n int) error { return limitError(n) }
