package usb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func readAll(t *testing.T, l *RecordLog) [][]byte {
	t.Helper()
	var out [][]byte
	if err := l.Records(func(p []byte) error { out = append(out, bytes.Clone(p)); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func payloadOf(i int) []byte {
	// Sizes vary so that records straddle sectors and clusters.
	return bytes.Repeat([]byte(strconv.Itoa(i)+";"), 1+i*37%300)
}

func TestRecordLogRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, err := OpenRecordLog(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := l.Append(payloadOf(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Append(nil); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 51 {
		t.Fatalf("Len %d", l.Len())
	}
	l.Close()
	if err := l.Append([]byte("x")); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("append after close: %v", err)
	}
	l, err = OpenRecordLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := readAll(t, l)
	if len(got) != 51 || l.Recovered() != 0 {
		t.Fatalf("%d records, recovered %d", len(got), l.Recovered())
	}
	for i := range 50 {
		if !bytes.Equal(got[i], payloadOf(i)) {
			t.Fatalf("record %d differs", i)
		}
	}
	if len(got[50]) != 0 {
		t.Fatal("empty record")
	}
	if err := l.Append(make([]byte, MaxRecord+1)); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
}

// TestRecordLogTornTail cuts the file at every byte of the last record and
// appends garbage and zeros (what a FAT cluster allocated but not written
// holds): recovery keeps every whole record and cuts the rest.
func TestRecordLogTornTail(t *testing.T) {
	var whole []byte
	for i := range 5 {
		whole = EncodeRecord(whole, payloadOf(i))
	}
	last := len(EncodeRecord(nil, payloadOf(4)))
	dir := t.TempDir()
	tails := map[string][]byte{"zeros": make([]byte, 4096), "garbage": []byte("\x01\x02junk"), "magic": []byte("BRG1\xff\xff")}
	for cut := len(whole) - last; cut < len(whole); cut++ {
		for name, tail := range tails {
			path := filepath.Join(dir, fmt.Sprintf("log-%d-%s", cut, name))
			data := append(bytes.Clone(whole[:cut]), tail...)
			os.WriteFile(path, data, 0o600)
			l, err := OpenRecordLog(path)
			if err != nil {
				t.Fatalf("cut %d %s: %v", cut, name, err)
			}
			if n := len(readAll(t, l)); n != 4 {
				t.Fatalf("cut %d %s: %d records", cut, name, n)
			}
			if err := l.Append([]byte("after")); err != nil {
				t.Fatal(err)
			}
			l.Close()
			l, err = OpenRecordLog(path)
			if err != nil {
				t.Fatal(err)
			}
			got := readAll(t, l)
			if len(got) != 5 || string(got[4]) != "after" || l.Recovered() != 0 {
				t.Fatalf("cut %d %s: after repair %d records", cut, name, len(got))
			}
			l.Close()
		}
	}
}

// TestRecordLogCorruptMiddle: a flipped bit in an early record must not be
// "recovered" by cutting away the acknowledged records after it.
func TestRecordLogCorruptMiddle(t *testing.T) {
	var data []byte
	for i := range 5 {
		data = EncodeRecord(data, payloadOf(i))
	}
	data[20] ^= 0x40
	path := filepath.Join(t.TempDir(), "log")
	os.WriteFile(path, data, 0o600)
	if _, err := OpenRecordLog(path); !errors.Is(err, ErrLogCorrupt) {
		t.Fatalf("got %v, want ErrLogCorrupt", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, data) {
		t.Fatal("corrupt log was modified")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(EncodeRecord(nil, []byte("hello")))
	f.Add(EncodeRecord(nil, nil))
	f.Add(EncodeRecord(EncodeRecord(nil, []byte("a")), []byte("bc"))[:20])
	f.Add([]byte("BRG1\xff\xff\xff\xff\x00\x00\x00\x00"))
	f.Add([]byte("BRG"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) && !errors.Is(err, ErrShortRecord) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !bytes.Equal(EncodeRecord(nil, p), b[:n]) {
			t.Fatal("decoded record does not re-encode to its bytes")
		}
		// The same bytes as a file: opening never panics and yields at
		// least this first record.
		path := filepath.Join(t.TempDir(), "log")
		os.WriteFile(path, b, 0o600)
		l, err := OpenRecordLog(path)
		if err != nil {
			if errors.Is(err, ErrLogCorrupt) {
				return
			}
			t.Fatal(err)
		}
		defer l.Close()
		first := true
		l.Records(func(q []byte) error {
			if first && !bytes.Equal(q, p) {
				t.Fatal("first record differs")
			}
			first = false
			return nil
		})
		if l.Len() < 1 {
			t.Fatal("lost the valid first record")
		}
	})
}

// TestRecordLogKill9 runs a child process that appends records in a loop
// and prints "ack N" after each Append returns, kills it with SIGKILL at
// a varying point, reopens the log and checks that every acknowledged
// record is there, in order, with nothing else but at most one record
// written and not yet acknowledged.
func TestRecordLogKill9(t *testing.T) {
	if path := os.Getenv("USB_RECORDLOG_CHILD"); path != "" {
		recordLogChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "log")
	next := 0
	for round := range kill9Rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRecordLogKill9$")
		cmd.Env = append(os.Environ(), "USB_RECORDLOG_CHILD="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		acked := -1
		killAt := 20 + round*13
		killed := false
		for sc.Scan() {
			n, ok := strings.CutPrefix(sc.Text(), "ack ")
			if !ok {
				continue
			}
			acked, _ = strconv.Atoi(n)
			if !killed && acked >= next+killAt {
				cmd.Process.Kill() // SIGKILL
				killed = true
			}
		}
		cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited on its own after ack %d", round, acked)
		}
		l, err := OpenRecordLog(path)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		got := readAll(t, l)
		torn := l.Recovered()
		l.Close()
		if len(got) < acked+1 || len(got) > acked+2 {
			t.Fatalf("round %d: %d records after ack %d", round, len(got), acked)
		}
		for i, p := range got {
			if !bytes.Equal(p, payloadOf(i)) {
				t.Fatalf("round %d: record %d is %q", round, i, p)
			}
		}
		next = len(got)
		t.Logf("round %d: killed after ack %d, %d records, %d bytes of torn tail cut", round, acked, len(got), torn)
	}
}

func recordLogChild(path string) {
	l, err := OpenRecordLog(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := l.Len(); i < 1<<20; i++ {
		if err := l.Append(payloadOf(i)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		fmt.Fprintf(w, "ack %d\n", i)
		w.Flush()
	}
	os.Exit(0)
}
