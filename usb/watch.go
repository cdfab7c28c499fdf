package usb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DefaultWatchInterval is how often Watch looks for the stick: often enough
// that keys leave memory within a second or two of a pull, rarely enough
// to cost nothing.
const DefaultWatchInterval = time.Second

// Watch returns a channel that is closed when the stick whose root is root
// disappears: the marker is gone, or root is no longer a directory (the
// mount point left empty after a pull, or the folder removed). It stops
// looking, without closing the channel, when ctx ends. The conduit wipes
// its keys and exits when the channel closes.
//
// A stat that fails with anything but "does not exist" (EIO from a pulled
// FAT stick that is still mounted) counts as gone too: either way the
// stick can no longer be trusted to hold our writes.
func Watch(ctx context.Context, root string, interval time.Duration) <-chan struct{} {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	gone := make(chan struct{})
	marker := filepath.Join(root, MarkerName)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if !present(marker) {
				close(gone)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return gone
}

func present(marker string) bool {
	fi, err := os.Stat(marker)
	return err == nil && fi.Mode().IsRegular()
}

// Flush makes everything written under root durable before the person
// pulls the stick ("prepare to unplug"). On Linux it syncs root's whole
// filesystem (syncfs); elsewhere it fsyncs every file and folder under the
// stick's data folder, which is where BorgIOS writes.
func Flush(root string) error {
	if err := flushFS(root); err == nil {
		return nil
	}
	return fsyncTree(filepath.Join(root, DataDirName))
}

// fsyncTree fsyncs every regular file and folder under dir.
func fsyncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == dir {
				return nil
			}
			return fmt.Errorf("usb: flush %s: %w", p, err)
		}
		if d.IsDir() {
			return syncDir(p)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			// A read-only file cannot have unflushed writes from us.
			return nil
		}
		defer f.Close()
		if err := f.Sync(); err != nil {
			return fmt.Errorf("usb: flush %s: %w", p, err)
		}
		return nil
	})
}
