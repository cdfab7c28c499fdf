//go:build unix

package usb

import (
	"errors"
	"syscall"
)

// dirSyncUnsupported: some filesystems (FUSE ones among them) refuse fsync
// on a directory; their metadata is then as durable as they make it.
func dirSyncUnsupported(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.ENOSYS)
}
