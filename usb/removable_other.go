//go:build !linux

package usb

// IsRemovable is best effort outside Linux: macOS (DiskArbitration) and
// Windows (GetDriveType) need system calls this pure-Go build does not make
// yet, so it answers RemovableUnknown and callers warn instead of refusing.
func IsRemovable(path string) (Removable, error) { return RemovableUnknown, nil }

// MountOf is not known outside Linux; FSType stays empty.
func MountOf(path string) (Mount, error) { return Mount{}, nil }
