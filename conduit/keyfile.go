package conduit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

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
