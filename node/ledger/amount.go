package ledger

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Amount is a quantity of shells in micro-shells. Integer fixed point keeps
// every node's arithmetic bit-identical (no float rounding can make two
// honest witnesses disagree about a balance), and uint64 holds the whole
// supply (2*10^13 micro) with five orders of magnitude to spare.
type Amount uint64

// MicroPerShell is the number of micro-shells in one shell.
const MicroPerShell Amount = 1_000_000

// TotalSupply is the fixed number of shells that exist: created at genesis
// in the treasury, never minted or burned afterwards.
const TotalSupply Amount = 20_000_000 * MicroPerShell

// Add returns a+b, or ErrAmountOverflow when the sum leaves uint64 or
// exceeds the total supply (no honest balance can).
func (a Amount) Add(b Amount) (Amount, error) {
	s, carry := bits.Add64(uint64(a), uint64(b), 0)
	if carry != 0 || Amount(s) > TotalSupply {
		return 0, fmt.Errorf("%s + %s: %w", a, b, ErrAmountOverflow)
	}
	return Amount(s), nil
}

// Sub returns a-b, or ErrInsufficientFunds when b > a.
func (a Amount) Sub(b Amount) (Amount, error) {
	if b > a {
		return 0, fmt.Errorf("%s - %s: %w", a, b, ErrInsufficientFunds)
	}
	return a - b, nil
}

// mulDiv returns a*b/d rounded down, or ErrAmountOverflow if the result
// does not fit; the 128-bit intermediate means a byte count times a rate
// never overflows before the division.
func mulDiv(a, b, d uint64) (Amount, error) {
	hi, lo := bits.Mul64(a, b)
	if hi >= d {
		return 0, fmt.Errorf("%d*%d/%d: %w", a, b, d, ErrAmountOverflow)
	}
	q, _ := bits.Div64(hi, lo, d)
	if Amount(q) > TotalSupply {
		return 0, fmt.Errorf("%d*%d/%d: %w", a, b, d, ErrAmountOverflow)
	}
	return Amount(q), nil
}

// String formats the amount in shells with six decimals, e.g. "12.500000".
func (a Amount) String() string {
	return fmt.Sprintf("%d.%06d", uint64(a/MicroPerShell), uint64(a%MicroPerShell))
}

// ParseAmount parses a decimal number of shells ("12", "0.5", "1.000001").
// It is the one place where text from a person (JSON API, CLI, genesis
// file) becomes an Amount, so it refuses negatives, more than six
// decimals, exponents and anything beyond the total supply.
func ParseAmount(s string) (Amount, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("parse amount: empty: %w", ErrBadAmount)
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("parse amount %q: %w", s, ErrNegativeAmount)
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") || len(frac) > 6 || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("parse amount %q: %w", s, ErrBadAmount)
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > uint64(TotalSupply/MicroPerShell) {
		return 0, fmt.Errorf("parse amount %q: %w", s, ErrAmountOverflow)
	}
	var f uint64
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	total := w*uint64(MicroPerShell) + f
	if total > uint64(TotalSupply) || total > math.MaxInt64 {
		return 0, fmt.Errorf("parse amount %q: %w", s, ErrAmountOverflow)
	}
	return Amount(total), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MarshalText writes the shell notation so JSON shows "12.500000".
func (a Amount) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses the shell notation with ParseAmount.
func (a *Amount) UnmarshalText(b []byte) error {
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}
