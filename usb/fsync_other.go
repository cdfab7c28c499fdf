//go:build !unix

package usb

// dirSyncUnsupported: Windows cannot fsync a folder handle opened this way;
// NTFS and FAT there update entries with the file.
func dirSyncUnsupported(error) bool { return true }
