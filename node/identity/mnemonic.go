package identity

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tyler-smith/go-bip39"
	"github.com/tyler-smith/go-bip39/wordlists"
	"golang.org/x/text/unicode/norm"
)

// Sentinel errors for phrase problems. Each has its own cause and its own
// fix for the person typing, so callers tell them apart with errors.Is.
var (
	// ErrUnknownWord: a word is not in the BIP39 English list (the error is
	// a *WordError saying which word and where).
	ErrUnknownWord = errors.New("word not in the BIP39 English list")
	// ErrWordCount: not 12, 15, 18, 21 or 24 words.
	ErrWordCount = errors.New("wrong number of words")
	// ErrChecksum: every word is valid but the checksum bits do not match,
	// which means a wrong (but existing) word or words in the wrong order.
	ErrChecksum = errors.New("phrase checksum does not match")
)

// NewMnemonicWords is the length of every phrase BorgIOS creates: 24 words
// carry 256 bits of entropy, so the phrase is not the weakest link even
// against an attacker who can try every phrase offline.
const NewMnemonicWords = 24

// WordError reports a word that is not in the BIP39 English list.
type WordError struct {
	Position    int      // 1-based, as a person counts
	Word        string   // the word as normalised
	Suggestions []string // close list words, best first; may be empty
}

func (e *WordError) Error() string {
	var b strings.Builder
	w := e.Word
	if r := []rune(w); len(r) > maxShownWord {
		w = string(r[:maxShownWord]) + "…"
	}
	fmt.Fprintf(&b, "word %d '%s' is not in the BIP39 English list", e.Position, w)
	if len(e.Suggestions) > 0 {
		b.WriteString("; did you mean ")
		for i, s := range e.Suggestions {
			switch {
			case i == 0:
			case i == len(e.Suggestions)-1:
				b.WriteString(" or ")
			default:
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "'%s'", s)
		}
		b.WriteString("?")
	}
	return b.String()
}

func (e *WordError) Unwrap() error { return ErrUnknownWord }

// maxShownWord bounds how much of a non-word an error message repeats, so
// pasted junk does not turn into a megabyte error.
const maxShownWord = 24

// englishIndex maps each list word to its index. We keep our own map rather
// than go-bip39's package-global one, which any importer can replace with
// SetWordList.
var englishIndex = func() map[string]int {
	m := make(map[string]int, len(wordlists.English))
	for i, w := range wordlists.English {
		m[w] = i
	}
	return m
}()

// NewMnemonic returns a fresh 24-word English phrase from 256 bits of
// operating-system randomness.
func NewMnemonic() (string, error) {
	var entropy [32]byte
	defer clear(entropy[:])
	if _, err := rand.Read(entropy[:]); err != nil {
		return "", fmt.Errorf("identity: reading randomness: %w", err)
	}
	return MnemonicFromEntropy(entropy[:])
}

// MnemonicFromEntropy returns the English phrase for 16, 20, 24, 28 or 32
// bytes of entropy (the BIP39 mapping, used by tests and by tools that bring
// their own randomness).
func MnemonicFromEntropy(entropy []byte) (string, error) {
	m, err := bip39.NewMnemonic(entropy)
	if err != nil {
		return "", fmt.Errorf("identity: phrase from %d bytes of entropy: %w", len(entropy), err)
	}
	return m, nil
}

// NormalizeMnemonic returns the canonical form of a typed phrase: Unicode
// NFKD (as BIP39 requires), lower case, words separated by single ASCII
// spaces, no leading or trailing space. The seed is computed over these
// exact bytes, so two spellings that look the same to a person must
// normalise to the same string; go-bip39 itself does none of this.
func NormalizeMnemonic(s string) string {
	s = norm.NFKD.String(s)
	s = strings.ToLower(s)
	// ToLower can in principle produce non-NFKD sequences; a second pass
	// makes the result a fixed point.
	s = norm.NFKD.String(s)
	return strings.Join(strings.Fields(s), " ")
}

// ValidateMnemonic checks a phrase (normalised first) and says precisely
// what is wrong: a *WordError (ErrUnknownWord) for the first word not in
// the list, ErrWordCount, or ErrChecksum.
func ValidateMnemonic(s string) error {
	_, err := entropyFromNormalized(NormalizeMnemonic(s))
	return err
}

// EntropyFromMnemonic returns the entropy a valid phrase encodes.
func EntropyFromMnemonic(s string) ([]byte, error) {
	return entropyFromNormalized(NormalizeMnemonic(s))
}

func entropyFromNormalized(m string) ([]byte, error) {
	words := strings.Split(m, " ")
	if m == "" {
		words = nil
	}
	// Unknown words first: pointing at one word is more useful than a count
	// when a typo merged or split words.
	for i, w := range words {
		if _, ok := englishIndex[w]; !ok {
			return nil, &WordError{Position: i + 1, Word: w, Suggestions: suggestWords(w)}
		}
	}
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return nil, fmt.Errorf("identity: %w: got %d, want 12, 15, 18, 21 or 24", ErrWordCount, len(words))
	}
	entropy, err := bip39.EntropyFromMnemonic(m)
	if errors.Is(err, bip39.ErrChecksumIncorrect) {
		return nil, fmt.Errorf("identity: %w: a word is wrong or words are out of order", ErrChecksum)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: decoding phrase: %w", err)
	}
	return entropy, nil
}

// SeedFromMnemonic validates and normalises the phrase, NFKD-normalises the
// BIP39 passphrase (which is otherwise used exactly: case and spaces in it
// matter) and returns the 64-byte BIP39 seed (PBKDF2-HMAC-SHA512, 2048
// rounds, salt "mnemonic"+passphrase).
func SeedFromMnemonic(mnemonic, passphrase string) ([]byte, error) {
	m := NormalizeMnemonic(mnemonic)
	entropy, err := entropyFromNormalized(m)
	if err != nil {
		return nil, err
	}
	clear(entropy)
	return bip39.NewSeed(m, norm.NFKD.String(passphrase)), nil
}

// suggestWords returns up to three list words close to w. BIP39 English
// words are unique in their first four letters, so a matching prefix is the
// strongest hint; otherwise words within edit distance 2 (a transposition
// counting as one edit), nearest first.
func suggestWords(w string) []string {
	const maxSuggestions = 3
	// List words have at most 8 letters, so anything much longer has no
	// neighbour within distance 2; checking spares 2048 comparisons
	// against a possibly huge pasted string.
	if utf8.RuneCountInString(w) > 12 {
		return nil
	}
	if len(w) >= 4 {
		for _, cand := range wordlists.English {
			if strings.HasPrefix(cand, w[:4]) && cand != w {
				return []string{cand}
			}
		}
	}
	type scored struct {
		word string
		d    int
	}
	var found []scored
	for _, cand := range wordlists.English {
		if d := editDistance(w, cand, 2); d <= 2 {
			found = append(found, scored{cand, d})
		}
	}
	slices.SortStableFunc(found, func(a, b scored) int { return a.d - b.d })
	out := make([]string, 0, maxSuggestions)
	for _, s := range found {
		if len(out) == maxSuggestions {
			break
		}
		out = append(out, s.word)
	}
	return out
}

// editDistance is the optimal-string-alignment distance between a and b
// (insert, delete, substitute, swap neighbours), or limit+1 as soon as it is
// certain to exceed limit. Runes, so a stray accented letter counts once.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
