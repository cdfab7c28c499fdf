package usb

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkRecordLogAppend measures durable appends of 1 KiB records; the
// baseline, a bare write+fsync of the same bytes to a plain file, runs in
// the same benchmark so the ratio shows what framing and checksums cost
// (fsync dominates both).
func BenchmarkRecordLogAppend(b *testing.B) {
	payload := make([]byte, 1024)
	dir := b.TempDir()
	l, err := OpenRecordLog(filepath.Join(dir, "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	raw, err := os.Create(filepath.Join(dir, "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	b.SetBytes(int64(len(payload)))
	var logNs, rawNs int64
	for i := 0; i < b.N; i++ {
		start := nanotime()
		if err := l.Append(payload); err != nil {
			b.Fatal(err)
		}
		logNs += nanotime() - start
		start = nanotime()
		raw.Write(payload)
		raw.Sync()
		rawNs += nanotime() - start
	}
	b.ReportMetric(float64(logNs)/float64(b.N)/1e3, "µs/append")
	b.ReportMetric(float64(rawNs)/float64(b.N)/1e3, "µs/raw-fsync")
	b.ReportMetric(float64(logNs)/float64(rawNs), "ratio")
}

func nanotime() int64 { return timeNow().UnixNano() }

var timeNow = time.Now
