package files

import (
	"errors"

	"github.com/borgios/borgios/node/cell"
)

// Sentinel errors; callers tell them apart with errors.Is.
var (
	// ErrMalformed: bytes that do not decode as a head, directory or request.
	ErrMalformed = errors.New("files: malformed")
	// ErrBadSignature: a head whose signature does not verify.
	ErrBadSignature = errors.New("files: bad head signature")
	// ErrConflict: another conduit updated the tree first; the client
	// re-reads, re-applies its change and retries, and returns this only
	// when every retry lost.
	ErrConflict = errors.New("files: concurrent update conflict")
	// ErrNotFound: no file or directory at that path.
	ErrNotFound = errors.New("files: no such file or directory")
	// ErrExists: the path is taken by an entry of the other kind.
	ErrExists = errors.New("files: path exists with another kind")
	// ErrNotDir: a path component is a file.
	ErrNotDir = errors.New("files: not a directory")
	// ErrIsDir: a file operation on a directory.
	ErrIsDir = errors.New("files: is a directory")
	// ErrBadPath: an empty, relative-escaping or over-long path.
	ErrBadPath = errors.New("files: invalid path")
	// ErrUnavailable: no head holder could be reached.
	ErrUnavailable = errors.New("files: head holders unreachable")
)

// Receptor error codes of the files cell.
const (
	// CodeConflict: the head is not the successor of the one kept here.
	CodeConflict cell.Code = "conflict"
	// CodeForgedHead: the head's signature does not verify.
	CodeForgedHead cell.Code = "forged-head"
)

// More receptor error codes of the files cell.
const (
	// CodeStale: the head is already kept and a newer head extends it (a
	// stale retry, or a replay of an old head).
	CodeStale cell.Code = "stale-head"
	// CodeTooManyTips: the holder keeps MaxTips concurrent heads already;
	// the owner must merge before adding another.
	CodeTooManyTips cell.Code = "too-many-tips"
)
