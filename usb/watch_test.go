package usb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatchMarkerGone(t *testing.T) {
	l, err := Init(filepath.Join(t.TempDir(), "stick"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gone := Watch(ctx, l.Root, 10*time.Millisecond)
	select {
	case <-gone:
		t.Fatal("closed while the stick is there")
	case <-time.After(50 * time.Millisecond):
	}
	if err := os.RemoveAll(l.Root); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
	case <-time.After(60 * time.Second):
		t.Fatal("pull not noticed within 60 s")
	}
}

func TestWatchStopsWithContext(t *testing.T) {
	l, err := Init(filepath.Join(t.TempDir(), "stick"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gone := Watch(ctx, l.Root, time.Millisecond)
	cancel()
	time.Sleep(20 * time.Millisecond)
	select {
	case <-gone:
		t.Fatal("closed on cancel: a cancelled watch must not look like a pull")
	default:
	}
	// An already missing stick is reported at once.
	if _, ok := <-Watch(context.Background(), filepath.Join(t.TempDir(), "none"), time.Hour); ok {
		t.Fatal("channel carried a value")
	}
}

func TestFlush(t *testing.T) {
	l, err := Init(filepath.Join(t.TempDir(), "stick"))
	if err != nil {
		t.Fatal(err)
	}
	p := l.Paths()
	p.Ensure()
	os.WriteFile(filepath.Join(p.Conduit, "state"), []byte("x"), 0o600)
	if err := Flush(l.Root); err != nil {
		t.Fatal(err)
	}
	if err := fsyncTree(l.DataDir()); err != nil {
		t.Fatal(err)
	}
	if err := fsyncTree(filepath.Join(l.Root, "missing")); err != nil {
		t.Fatal(err)
	}
}
