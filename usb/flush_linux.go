package usb

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// flushFS syncs the whole filesystem holding root, which also covers files
// a library wrote without telling us.
func flushFS(root string) error {
	f, err := os.Open(root)
	if err != nil {
		return fmt.Errorf("usb: flush: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("usb: syncfs %s: %w", root, err)
	}
	return nil
}
