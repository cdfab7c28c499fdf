//go:build !linux

package usb

import "errors"

// flushFS has no whole-filesystem sync outside Linux without privileges
// (Windows flushes a volume only for administrators); Flush falls back to
// fsyncing the data folder.
func flushFS(string) error { return errors.ErrUnsupported }
