package cli

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/borgios/borgios/node/identity"
)

func init() { subcommands = append(subcommands, newSeedCmd) }

// keyfilePassphraseEnv lets scripts give the key file passphrase without a
// terminal. It wins over stdin and prompts, so that a script's intent is
// never overridden by whatever else stdin holds.
const keyfilePassphraseEnv = "BORGIOS_KEYFILE_PASSPHRASE"

// maxInputLine bounds one line of secret input; a phrase is ~200 bytes.
const maxInputLine = 4096

// maxKeyFileSize bounds what inspect --keyfile reads; real files are 172 bytes.
const maxKeyFileSize = 64 << 10

func newSeedCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Create, check and protect your recovery phrase",
		Long: `The recovery phrase (24 words, plus an optional BIP39 passphrase) is your
identity: every key you have is derived from it. These commands create a
phrase, show the keys and address it gives, and write a passphrase-encrypted
key file.

Phrases are read from standard input: the phrase on the first line, the BIP39
passphrase (if any) on the second. On a terminal you are prompted instead and
nothing you type is echoed.`,
	}
	cmd.AddCommand(newSeedNewCmd(), newSeedInspectCmd(), newSeedKeyfileCmd())
	return cmd
}

const writeItDown = `Write these words down on paper, in order, and keep them offline.
Anyone who has them has your identity, and if you lose them nobody can
recover it. Do not photograph them, store them in a file or type them into
a website.
`

func newSeedNewCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "new",
		Short: "Print a fresh 24-word recovery phrase",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := identity.NewMnemonic()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprint(cmd.ErrOrStderr(), writeItDown)
			if asJSON {
				return writeJSON(out, map[string]string{"mnemonic": m})
			}
			k, err := identity.KeysFromMnemonic(m, "")
			if err != nil {
				return err
			}
			defer k.Wipe()
			printNumbered(out, strings.Split(m, " "))
			fmt.Fprintf(out, "\nAddress (without a BIP39 passphrase): %s\n", k.Address())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"mnemonic": "..."} instead of numbered words`)
	return cmd
}

// printNumbered prints words in four columns, numbered so a person copying
// them can check none is skipped.
func printNumbered(w io.Writer, words []string) {
	const cols = 4
	for i, word := range words {
		if i%cols == cols-1 || i == len(words)-1 {
			fmt.Fprintf(w, "%2d. %s\n", i+1, word)
		} else {
			fmt.Fprintf(w, "%2d. %-10s", i+1, word)
		}
	}
}

type inspectOutput struct {
	AccountPublicKey  string `json:"account_public_key"`
	X25519PublicKey   string `json:"x25519_public_key"`
	Address           string `json:"address"`
	AccountPrivateKey string `json:"account_private_key,omitempty"`
	X25519PrivateKey  string `json:"x25519_private_key,omitempty"`
	FileRoot          string `json:"file_root,omitempty"`
}

func newSeedInspectCmd() *cobra.Command {
	var (
		asJSON, showSecrets bool
		keyfile             string
	)
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Show the public keys and address of a phrase or key file",
		Long: `Reads a phrase from standard input (first line; optional BIP39 passphrase on
the second) and prints the account public key, the X25519 public key and the
address. With --keyfile it reads the key file instead; its passphrase comes
from ` + keyfilePassphraseEnv + ` if set, otherwise from the first input line
(or a prompt on a terminal). Nothing secret is printed unless --show-secrets.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := newSecretInput(cmd)
			var (
				k   *identity.Keys
				err error
			)
			if keyfile != "" {
				k, err = keysFromKeyFileInput(in, keyfile)
			} else {
				k, err = keysFromPhraseInput(in)
			}
			if err != nil {
				return err
			}
			defer k.Wipe()
			o := inspectOutput{
				AccountPublicKey: hex.EncodeToString(k.AccountPublic()),
				X25519PublicKey:  hex.EncodeToString(k.X25519Public[:]),
				Address:          k.Address(),
			}
			if showSecrets {
				o.AccountPrivateKey = hex.EncodeToString(k.Account.Seed())
				o.X25519PrivateKey = hex.EncodeToString(k.X25519Private[:])
				o.FileRoot = hex.EncodeToString(k.FileRoot[:])
				fmt.Fprintln(cmd.ErrOrStderr(), "Private keys are shown below: clear your screen and scrollback afterwards.")
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, o)
			}
			fmt.Fprintf(out, "Address:             %s\n", o.Address)
			fmt.Fprintf(out, "Account public key:  %s\n", o.AccountPublicKey)
			fmt.Fprintf(out, "X25519 public key:   %s\n", o.X25519PublicKey)
			if showSecrets {
				fmt.Fprintf(out, "Account private key: %s\n", o.AccountPrivateKey)
				fmt.Fprintf(out, "X25519 private key:  %s\n", o.X25519PrivateKey)
				fmt.Fprintf(out, "File-key root:       %s\n", o.FileRoot)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&showSecrets, "show-secrets", false, "also print the private keys and the file-key root")
	cmd.Flags().StringVar(&keyfile, "keyfile", "", "read the keys from this key file instead of a phrase")
	return cmd
}

func newSeedKeyfileCmd() *cobra.Command {
	var (
		out   string
		force bool
		kdf   = identity.DefaultKDFParams
		memMB uint32
	)
	cmd := &cobra.Command{
		Use:   "keyfile --out FILE",
		Short: "Write a passphrase-encrypted key file for a phrase",
		Long: `Reads the phrase (first line) and BIP39 passphrase (second line, empty for
none) from standard input and writes a key file encrypted under a separate
key file passphrase, with permissions 0600. The key file passphrase comes
from ` + keyfilePassphraseEnv + ` if set, otherwise from the third input line
(on a terminal: a prompt, asked twice).

The file is written to a temporary file, flushed to disk and renamed into
place, so a crash never leaves half a key file. The Argon2id cost defaults to
RFC 9106's t=3, 64 MiB, 4 lanes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required: where to write the key file")
			}
			if !force {
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("%s already exists: choose another --out or add --force to replace it", out)
				}
			}
			kdf.MemoryKiB = memMB << 10
			in := newSecretInput(cmd)
			phrase, passphrase, err := readPhrase(in)
			if err != nil {
				return err
			}
			k, err := identity.KeysFromMnemonic(phrase, passphrase)
			if err != nil {
				return phraseError(phrase, err)
			}
			defer k.Wipe()
			seed, err := identity.SeedFromMnemonic(phrase, passphrase)
			if err != nil {
				return phraseError(phrase, err)
			}
			defer clear(seed)
			filePass, err := keyfilePassphrase(in, true)
			if err != nil {
				return err
			}
			defer clear(filePass)
			if n := len([]rune(string(filePass))); n < 8 {
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning: a %d-character key file passphrase is easy to guess if the file is stolen.\n", n)
			}
			data, err := identity.SealKeyFile(seed, filePass, kdf)
			if err != nil {
				return fmt.Errorf("sealing the key file: %w", err)
			}
			if err := writeFileAtomic(out, data, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s for %s\n", out, k.Address())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "key file to write (required)")
	f.BoolVar(&force, "force", false, "replace an existing file")
	f.Uint32Var(&kdf.Time, "kdf-time", kdf.Time, "Argon2id passes")
	f.Uint32Var(&memMB, "kdf-memory-mib", kdf.MemoryKiB>>10, "Argon2id memory in MiB")
	f.Uint8Var(&kdf.Threads, "kdf-threads", kdf.Threads, "Argon2id lanes")
	return cmd
}

// hintError is an error whose message tells the person what to do, while
// still unwrapping to the package error for callers and tests.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }

// phraseError turns identity's phrase errors into advice.
func phraseError(phrase string, err error) error {
	var we *identity.WordError
	switch {
	case errors.As(err, &we):
		// Its message already names the word, where it is and close words.
		return err
	case errors.Is(err, identity.ErrWordCount):
		n := 0
		if norm := identity.NormalizeMnemonic(phrase); norm != "" {
			n = len(strings.Split(norm, " "))
		}
		return &hintError{fmt.Sprintf("the phrase has %d words, but a recovery phrase has 12, 15, 18, 21 or 24: look for a missing, extra or run-together word", n), err}
	case errors.Is(err, identity.ErrChecksum):
		return &hintError{"every word is in the list, but together they fail the phrase checksum: one word is wrong or two are swapped; compare with your written copy, word by word", err}
	}
	return err
}

// secretInput reads secret lines from stdin: no-echo prompts on a
// terminal, plain lines otherwise (pipes and tests).
type secretInput struct {
	tty    *os.File
	r      *bufio.Reader
	prompt io.Writer
}

func newSecretInput(cmd *cobra.Command) *secretInput {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &secretInput{tty: f, prompt: cmd.ErrOrStderr()}
	}
	return &secretInput{r: bufio.NewReaderSize(in, maxInputLine), prompt: cmd.ErrOrStderr()}
}

// line returns the next line without its line ending; ok is false at end
// of input. Only the ending is stripped: spaces in a passphrase count.
func (s *secretInput) line(prompt string) (line string, ok bool, err error) {
	if s.tty != nil {
		fmt.Fprint(s.prompt, prompt)
		b, err := term.ReadPassword(int(s.tty.Fd()))
		fmt.Fprintln(s.prompt)
		if err != nil {
			return "", false, fmt.Errorf("reading from the terminal: %w", err)
		}
		return string(b), true, nil
	}
	b, err := s.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "", false, fmt.Errorf("input line longer than %d bytes: is this the right input?", maxInputLine)
	case errors.Is(err, io.EOF):
		if len(b) == 0 {
			return "", false, nil
		}
	case err != nil:
		return "", false, fmt.Errorf("reading standard input: %w", err)
	}
	l := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	return l, true, nil
}

func readPhrase(in *secretInput) (phrase, passphrase string, err error) {
	phrase, ok, err := in.line("Recovery phrase: ")
	if err != nil {
		return "", "", err
	}
	if !ok || strings.TrimSpace(phrase) == "" {
		return "", "", errors.New("no phrase given: put the recovery phrase on the first line of standard input")
	}
	passphrase, _, err = in.line("BIP39 passphrase (Enter for none): ")
	if err != nil {
		return "", "", err
	}
	return phrase, passphrase, nil
}

func keysFromPhraseInput(in *secretInput) (*identity.Keys, error) {
	phrase, passphrase, err := readPhrase(in)
	if err != nil {
		return nil, err
	}
	k, err := identity.KeysFromMnemonic(phrase, passphrase)
	if err != nil {
		return nil, phraseError(phrase, err)
	}
	return k, nil
}

// keyfilePassphrase gets the key file passphrase: the environment first,
// then the next input line or a prompt (twice when creating, so a typo
// does not lock the person out).
func keyfilePassphrase(in *secretInput, creating bool) ([]byte, error) {
	if p, ok := os.LookupEnv(keyfilePassphraseEnv); ok && p != "" {
		return []byte(p), nil
	}
	p, ok, err := in.line("Key file passphrase: ")
	if err != nil {
		return nil, err
	}
	if !ok || p == "" {
		return nil, fmt.Errorf("no key file passphrase: give it on the next input line or in %s", keyfilePassphraseEnv)
	}
	if creating && in.tty != nil {
		again, _, err := in.line("Repeat key file passphrase: ")
		if err != nil {
			return nil, err
		}
		if again != p {
			return nil, errors.New("the two key file passphrases differ: nothing was written")
		}
	}
	return []byte(p), nil
}

func keysFromKeyFileInput(in *secretInput, path string) (*identity.Keys, error) {
	data, err := readSmallFile(path, maxKeyFileSize)
	if err != nil {
		return nil, err
	}
	pass, err := keyfilePassphrase(in, false)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	k, err := identity.KeysFromKeyFile(data, pass)
	switch {
	case errors.Is(err, identity.ErrWrongPassphrase):
		return nil, &hintError{fmt.Sprintf("wrong passphrase for key file %s: the file is intact, check the passphrase (case and spaces count)", path), err}
	case errors.Is(err, identity.ErrCorruptKeyFile):
		return nil, &hintError{fmt.Sprintf("key file %s is damaged or not a key file (%v): restore it from a backup, or write a new one from your phrase with 'borgios seed keyfile'", path, err), err}
	case errors.Is(err, identity.ErrUnsupportedKeyFile):
		return nil, &hintError{fmt.Sprintf("key file %s was written by a different version (%v): use a newer borgios", path, err), err}
	case err != nil:
		return nil, fmt.Errorf("opening key file %s: %w", path, err)
	}
	return k, nil
}

func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading key file %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than any key file (%d bytes or more): wrong file?", path, limit)
	}
	return data, nil
}

// writeFileAtomic writes data to path so that path holds either its old
// content or all of data, even across a crash or power cut: a temporary
// file in the same directory is written, fsynced and renamed over path,
// then the directory is fsynced so the rename itself is durable.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already makes the file 0600; Chmod states the intent and
	// covers a perm other than 0600.
	if err := tmp.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: flushing to disk: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// Windows cannot open a directory to fsync it; NTFS journals the
	// rename itself.
	if runtime.GOOS != "windows" {
		d, err := os.Open(dir)
		if err != nil {
			return fmt.Errorf("writing %s: syncing directory: %w", path, err)
		}
		defer d.Close()
		if err := d.Sync(); err != nil {
			return fmt.Errorf("writing %s: syncing directory: %w", path, err)
		}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
