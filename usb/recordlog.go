package usb

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
)

// Record format, little-endian, append-only:
//
//	magic   4 bytes  "BRG1"
//	length  4 bytes  payload length
//	crc     4 bytes  CRC-32C (Castagnoli) of length and payload
//	payload length bytes
//
// The magic lets recovery tell a torn tail (nothing valid after the first
// bad record) from damage in the middle of the log (valid records follow),
// which it must not silently cut away.
const (
	recordHeader = 12
	// MaxRecord bounds one payload: a length field read from a damaged
	// file never makes us allocate more than this.
	MaxRecord = 16 << 20
)

var recordMagic = [4]byte{'B', 'R', 'G', '1'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// ErrShortRecord: the bytes end before the record does (a torn tail
	// when it is the end of the file).
	ErrShortRecord = errors.New("usb: record cut short")
	// ErrBadRecord: the bytes are not a valid record (wrong magic, length
	// over MaxRecord or checksum mismatch).
	ErrBadRecord = errors.New("usb: bad record")
	// ErrRecordTooLarge: Append was given more than MaxRecord bytes.
	ErrRecordTooLarge = errors.New("usb: record too large")
	// ErrLogCorrupt: a damaged record sits before valid ones. Recovery
	// does not truncate it, since that would lose acknowledged records.
	ErrLogCorrupt = errors.New("usb: record log corrupt before its end")
	// ErrLogClosed: the log was closed.
	ErrLogClosed = errors.New("usb: record log closed")
)

// EncodeRecord appends payload's record to dst.
func EncodeRecord(dst, payload []byte) []byte {
	var h [recordHeader]byte
	copy(h[:4], recordMagic[:])
	binary.LittleEndian.PutUint32(h[4:8], uint32(len(payload)))
	c := crc32.Update(0, castagnoli, h[4:8])
	c = crc32.Update(c, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[8:12], c)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// DecodeRecord reads the record at the start of b and returns its payload
// (aliasing b) and the record's total size.
func DecodeRecord(b []byte) (payload []byte, n int, err error) {
	if len(b) < recordHeader {
		if !bytes.HasPrefix(recordMagic[:], b[:min(len(b), 4)]) {
			return nil, 0, ErrBadRecord
		}
		return nil, 0, ErrShortRecord
	}
	if [4]byte(b[:4]) != recordMagic {
		return nil, 0, ErrBadRecord
	}
	length := binary.LittleEndian.Uint32(b[4:8])
	if length > MaxRecord {
		return nil, 0, ErrBadRecord
	}
	end := recordHeader + int(length)
	if len(b) < end {
		return nil, 0, ErrShortRecord
	}
	c := crc32.Update(0, castagnoli, b[4:8])
	c = crc32.Update(c, castagnoli, b[recordHeader:end])
	if c != binary.LittleEndian.Uint32(b[8:12]) {
		return nil, 0, ErrBadRecord
	}
	return b[recordHeader:end], end, nil
}

// RecordLog is a crash-safe append-only log of records in one file, made
// for FAT and exFAT sticks, which have no journal: Append returns only after
// the record and the file's new size are on the stick (fsync), and opening
// the log after a crash or a pull cuts away a torn last record. A record
// Append acknowledged is never lost to recovery.
//
// It is safe for concurrent use.
type RecordLog struct {
	mu        sync.Mutex
	f         *os.File
	path      string
	size      int64 // bytes of valid records
	count     int
	recovered int64 // bytes of torn tail cut away at open
	buf       []byte
}

// OpenRecordLog opens or creates the log at path and recovers it: a torn
// tail is truncated (and the truncation fsynced); damage before valid
// records is ErrLogCorrupt and the file is left as it is for a person or a
// repair tool to look at.
func OpenRecordLog(path string) (*RecordLog, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("usb: open record log: %w", err)
	}
	l := &RecordLog{f: f, path: path}
	if err := l.recover(); err != nil {
		f.Close()
		return nil, err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// The new file's entry in its folder must be durable before any
		// record in it is acknowledged.
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("usb: sync new record log: %w", err)
		}
		if err := syncDir(dirOf(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("usb: record log: %w", err)
		}
	}
	return l, nil
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if os.IsPathSeparator(path[i]) {
			if i == 0 {
				return path[:1]
			}
			return path[:i]
		}
	}
	return "."
}

func (l *RecordLog) recover() error {
	fi, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("usb: record log: %w", err)
	}
	fileSize := fi.Size()
	var good int64
	count := 0
	err = scanRecords(io.NewSectionReader(l.f, 0, fileSize), func([]byte) error { count++; return nil }, &good)
	if err == nil {
		l.size, l.count = good, count
		return nil
	}
	if !errors.Is(err, ErrBadRecord) && !errors.Is(err, ErrShortRecord) {
		return fmt.Errorf("usb: read record log: %w", err)
	}
	// Is anything valid after the bad spot? Only the last write can be
	// torn, because every Append is fsynced before the next begins.
	if after, err := validRecordAfter(l.f, good+1, fileSize); err != nil {
		return fmt.Errorf("usb: read record log: %w", err)
	} else if after >= 0 {
		return fmt.Errorf("%w: %s: bad record at byte %d, valid record at byte %d", ErrLogCorrupt, l.path, good, after)
	}
	if err := l.f.Truncate(good); err != nil {
		return fmt.Errorf("usb: truncate torn record: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("usb: sync truncated log: %w", err)
	}
	l.size, l.count, l.recovered = good, count, fileSize-good
	return nil
}

// scanRecords calls fn with each record's payload from r until the end,
// keeping *good at the end of the last valid record. It returns nil at a
// clean end, or ErrBadRecord/ErrShortRecord where the valid part ends.
func scanRecords(r io.Reader, fn func([]byte) error, good *int64) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var payload []byte
	for {
		h, err := br.Peek(recordHeader)
		if len(h) == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return err
		}
		if _, _, derr := DecodeRecord(h); derr != nil && !errors.Is(derr, ErrShortRecord) {
			return derr
		}
		if len(h) < recordHeader {
			return ErrShortRecord
		}
		length := int(binary.LittleEndian.Uint32(h[4:8]))
		total := recordHeader + length
		if cap(payload) < total {
			payload = make([]byte, total)
		}
		payload = payload[:total]
		if _, err := io.ReadFull(br, payload); err != nil {
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				return ErrShortRecord
			}
			return err
		}
		p, _, derr := DecodeRecord(payload)
		if derr != nil {
			return derr
		}
		if err := fn(p); err != nil {
			return err
		}
		*good += int64(total)
	}
}

// validRecordAfter returns the offset of the first valid record starting
// at or after from, or -1.
func validRecordAfter(f *os.File, from, size int64) (int64, error) {
	if from >= size {
		return -1, nil
	}
	b := make([]byte, size-from)
	if _, err := f.ReadAt(b, from); err != nil && err != io.EOF {
		return -1, err
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], recordMagic[:])
		if j < 0 {
			return -1, nil
		}
		if _, _, err := DecodeRecord(b[i+j:]); err == nil {
			return from + int64(i+j), nil
		}
		i += j + 1
	}
}

// Append writes one record and returns once it is durable.
func (l *RecordLog) Append(payload []byte) error {
	if len(payload) > MaxRecord {
		return fmt.Errorf("%w: %d bytes", ErrRecordTooLarge, len(payload))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return ErrLogClosed
	}
	l.buf = EncodeRecord(l.buf[:0], payload)
	if _, err := l.f.WriteAt(l.buf, l.size); err != nil {
		// Cut a partial write away so the next Append does not leave a
		// hole of garbage before valid records.
		_ = l.f.Truncate(l.size)
		return fmt.Errorf("usb: append record: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		_ = l.f.Truncate(l.size)
		return fmt.Errorf("usb: sync record: %w", err)
	}
	l.size += int64(len(l.buf))
	l.count++
	return nil
}

// Records calls fn with every record's payload in order (the slice is
// reused between calls). An error from fn stops the walk and is returned.
func (l *RecordLog) Records(fn func(payload []byte) error) error {
	l.mu.Lock()
	if l.f == nil {
		l.mu.Unlock()
		return ErrLogClosed
	}
	size := l.size
	f := l.f
	l.mu.Unlock()
	var good int64
	// Records only ever grow past size, so the section read needs no lock.
	err := scanRecords(io.NewSectionReader(f, 0, size), fn, &good)
	if errors.Is(err, ErrBadRecord) || errors.Is(err, ErrShortRecord) {
		return fmt.Errorf("usb: record log changed under us at byte %d: %w", good, err)
	}
	return err
}

// Len is the number of records.
func (l *RecordLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// Size is the log's length in bytes.
func (l *RecordLog) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Recovered is how many bytes of torn tail OpenRecordLog cut away.
func (l *RecordLog) Recovered() int64 { return l.recovered }

// Close closes the file; every acknowledged record is already durable.
func (l *RecordLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return ErrLogClosed
	}
	err := l.f.Close()
	l.f = nil
	return err
}
