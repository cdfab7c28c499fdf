package conduit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/borgios/borgios/node/identity"
)

// ErrNoKeyFile: unlock by key file asked for, but there is none.
var ErrNoKeyFile = errors.New("conduit: no key file")

// KeyFileSource gives the conduit the person's encrypted key file, if they
// chose to keep one (on their stick, typically). The conduit only reads
// it: writing key files is the stick layer's and `borgios seed keyfile`'s
// business.
type KeyFileSource interface {
	// ReadKeyFile returns the file's bytes, or an error wrapping
	// fs.ErrNotExist when there is none.
	ReadKeyFile() ([]byte, error)
}

// KeyFilePath is a KeyFileSource reading one file.
type KeyFilePath string

// maxKeyFileBytes bounds the read; a real key file is under 200 bytes.
const maxKeyFileBytes = 64 << 10

// ReadKeyFile reads the file, refusing anything implausibly large.
func (p KeyFilePath) ReadKeyFile() ([]byte, error) {
	f, err := os.Open(string(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("conduit: reading key file: %w", err)
	}
	if len(b) > maxKeyFileBytes {
		return nil, fmt.Errorf("conduit: %s: %w (larger than %d bytes)", p, identity.ErrCorruptKeyFile, maxKeyFileBytes)
	}
	return b, nil
}

// keyFile returns the key file's bytes, ErrNoKeyFile, or a read error.
func (s *Server) keyFile() ([]byte, error) {
	if s.cfg.KeyFile == nil {
		return nil, ErrNoKeyFile
	}
	b, err := s.cfg.KeyFile.ReadKeyFile()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoKeyFile
	}
	if err != nil {
		return nil, fmt.Errorf("conduit: reading key file: %w", err)
	}
	return b, nil
}

func (s *Server) hasKeyFile() bool {
	_, err := s.keyFile()
	return err == nil
}

// unlockKeyFile opens the key file with passphrase and unlocks.
func (s *Server) unlockKeyFile(passphrase string) (Identity, error) {
	if _, unlocked, _ := s.vault.State(); unlocked {
		return Identity{}, ErrAlreadyUnlocked
	}
	data, err := s.keyFile()
	if err != nil {
		return Identity{}, err
	}
	pass := []byte(passphrase)
	defer clear(pass)
	keys, err := identity.KeysFromKeyFile(data, pass)
	if err != nil {
		return Identity{}, err
	}
	id, err := s.vault.Unlock(keys)
	if err != nil {
		return Identity{}, err
	}
	s.clearPending()
	return id, nil
}

// keyFileErrorMessage says what went wrong in words, and what to do.
func keyFileErrorMessage(err error) (msg, code string) {
	switch {
	case errors.Is(err, identity.ErrWrongPassphrase):
		return "That is not the key file's passphrase. Try again, or unlock with your words.", "wrong_passphrase"
	case errors.Is(err, identity.ErrCorruptKeyFile):
		return "The key file is damaged. Unlock with your words, then make a new key file.", "corrupt_key_file"
	case errors.Is(err, identity.ErrUnsupportedKeyFile):
		return "The key file was made by a newer BorgIOS. Unlock with your words, or update BorgIOS.", "unsupported_key_file"
	case errors.Is(err, ErrNoKeyFile):
		return "There is no key file. Unlock with your words.", "no_key_file"
	case errors.Is(err, ErrAlreadyUnlocked):
		return "Already unlocked: lock first.", "already_unlocked"
	}
	return "The key file could not be read.", "key_file_unreadable"
}

// KeyFileWriter is a KeyFileSource that can also store a new key file:
// on a stick in portable mode, the Settings page saves the key file there
// instead of offering it as a download.
type KeyFileWriter interface {
	KeyFileSource
	WriteKeyFile(data []byte) error
}

// WriteKeyFile replaces the file atomically (temporary file, fsync,
// rename, fsync of the folder), so a stick pulled out halfway keeps either
// the old key file or the new one, never half of one.
func (p KeyFilePath) WriteKeyFile(data []byte) error {
	if err := writeFileAtomic(string(p), data, 0o600); err != nil {
		return fmt.Errorf("conduit: writing key file: %w", err)
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file in the
// same folder, synced and renamed over path, then syncs the folder.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	return writeFileAtomic(path, data, perm)
}

func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	// The rename is durable only once the folder is; some systems (and
	// Windows) cannot sync a folder, which is not worth failing over.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Key file passphrases shorter than this are refused: the file may be
// copied off a lost stick and attacked offline.
const minKeyFilePassphrase = 8

// Errors of making a key file from Settings.
var (
	// ErrPassphraseMismatch: the two passphrases typed differ.
	ErrPassphraseMismatch = errors.New("conduit: the two passphrases differ")
	// ErrWeakPassphrase: the passphrase is too short.
	ErrWeakPassphrase = errors.New("conduit: key file passphrase too short")
	// ErrOtherIdentity: the words typed are not the unlocked identity's.
	ErrOtherIdentity = errors.New("conduit: the words belong to another identity")
)

// sealKeyFile makes a key file of the unlocked identity. The vault keeps
// keys, not the seed a key file stores, so the person types the words
// again; they must give the unlocked address, which also catches a typo
// that happens to be a valid phrase.
func (s *Server) sealKeyFile(mnemonic, bip39, pass, pass2 string, kdf identity.KDFParams) ([]byte, error) {
	id, err := s.vault.Identity()
	if err != nil {
		return nil, err
	}
	if pass != pass2 {
		return nil, ErrPassphraseMismatch
	}
	if len([]rune(pass)) < minKeyFilePassphrase {
		return nil, ErrWeakPassphrase
	}
	seed, err := identity.SeedFromMnemonic(mnemonic, bip39)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	keys, err := identity.KeysFromSeed(seed)
	if err != nil {
		return nil, err
	}
	addr := keys.Address()
	keys.Wipe()
	if addr != id.Address {
		return nil, ErrOtherIdentity
	}
	p := []byte(pass)
	defer clear(p)
	return identity.SealKeyFile(seed, p, kdf)
}
