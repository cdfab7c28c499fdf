package files

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/borgios/borgios/node/shard"
	"github.com/borgios/borgios/node/wire"
)

// Kind is what a directory entry names.
type Kind uint8

// Entry kinds.
const (
	KindFile Kind = 1
	KindDir  Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "dir"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Limits of a directory, checked on every decode.
const (
	MaxNameLen    = 255
	MaxEntries    = 100_000
	MaxPathDepth  = 64
	MaxDirectory  = 256 << 20
	dirVersion    = 1
	maxRefPerFile = shard.MaxManifestSize
)

// Entry is one name in a directory. Ref is the sealed shard manifest of
// the file, or of the subdirectory's encrypted blob.
type Entry struct {
	Name  string `cbor:"1,keyasint" json:"name"`
	Kind  Kind   `cbor:"2,keyasint" json:"kind"`
	Size  int64  `cbor:"3,keyasint" json:"size"`
	MTime int64  `cbor:"4,keyasint" json:"mtime_ms"`
	Ref   []byte `cbor:"5,keyasint" json:"-"`
}

// Directory is the plaintext of one directory blob, entries sorted by name.
type Directory struct {
	Version int     `cbor:"1,keyasint"`
	Entries []Entry `cbor:"2,keyasint"`
}

// ValidName reports whether s can name a directory entry.
func ValidName(s string) bool {
	return s != "" && s != "." && s != ".." && len(s) <= MaxNameLen && utf8.ValidString(s) &&
		!strings.ContainsAny(s, "/\x00")
}

// Check validates a decoded directory: version, names, kinds, order and
// uniqueness.
func (d *Directory) Check() error {
	if d.Version != dirVersion {
		return fmt.Errorf("%w: directory version %d", ErrMalformed, d.Version)
	}
	if len(d.Entries) > MaxEntries {
		return fmt.Errorf("%w: directory of %d entries", ErrMalformed, len(d.Entries))
	}
	for i, e := range d.Entries {
		if !ValidName(e.Name) {
			return fmt.Errorf("%w: entry name %q", ErrMalformed, e.Name)
		}
		if e.Kind != KindFile && e.Kind != KindDir {
			return fmt.Errorf("%w: entry %q of %v", ErrMalformed, e.Name, e.Kind)
		}
		if e.Size < 0 || len(e.Ref) == 0 || len(e.Ref) > maxRefPerFile {
			return fmt.Errorf("%w: entry %q size or ref", ErrMalformed, e.Name)
		}
		if i > 0 && d.Entries[i-1].Name >= e.Name {
			return fmt.Errorf("%w: entries not sorted and unique at %q", ErrMalformed, e.Name)
		}
	}
	return nil
}

// DecodeDirectory decodes and checks a directory's plaintext.
func DecodeDirectory(b []byte) (*Directory, error) {
	if len(b) > MaxDirectory {
		return nil, fmt.Errorf("%w: directory of %d bytes", ErrMalformed, len(b))
	}
	var d Directory
	if err := wire.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%w: directory: %v", ErrMalformed, err)
	}
	if err := d.Check(); err != nil {
		return nil, err
	}
	return &d, nil
}

// Encode returns the directory's plaintext bytes.
func (d *Directory) Encode() ([]byte, error) {
	d.Version = dirVersion
	if d.Entries == nil {
		d.Entries = []Entry{}
	}
	if err := d.Check(); err != nil {
		return nil, err
	}
	return wire.Marshal(d)
}

// Find returns the index of name, or -1.
func (d *Directory) Find(name string) int {
	i, ok := slices.BinarySearchFunc(d.Entries, name, func(e Entry, n string) int { return strings.Compare(e.Name, n) })
	if !ok {
		return -1
	}
	return i
}

// Set adds or replaces an entry, keeping the order.
func (d *Directory) Set(e Entry) {
	i, ok := slices.BinarySearchFunc(d.Entries, e.Name, func(x Entry, n string) int { return strings.Compare(x.Name, n) })
	if ok {
		d.Entries[i] = e
		return
	}
	d.Entries = slices.Insert(d.Entries, i, e)
}

// Remove deletes the entry at index i.
func (d *Directory) Remove(i int) { d.Entries = slices.Delete(d.Entries, i, i+1) }

// SplitPath cleans a tree path ("/a/b", "a/b/", "" for the root) into its
// names.
func SplitPath(p string) ([]string, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return nil, nil
	}
	parts := strings.Split(p[1:], "/")
	if len(parts) > MaxPathDepth {
		return nil, fmt.Errorf("%w: %d levels deep, limit %d", ErrBadPath, len(parts), MaxPathDepth)
	}
	for _, n := range parts {
		if !ValidName(n) {
			return nil, fmt.Errorf("%w: name %q", ErrBadPath, n)
		}
	}
	return parts, nil
}
