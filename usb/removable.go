package usb

import "strings"

// Removable says whether a path lives on removable media. It is for
// defaults and warnings only, never for security: a person can always
// force, and a system can always lie.
type Removable int

const (
	RemovableUnknown Removable = iota
	RemovableYes
	RemovableNo
)

func (r Removable) String() string {
	switch r {
	case RemovableYes:
		return "removable"
	case RemovableNo:
		return "not removable"
	}
	return "unknown"
}

// Mount describes the mounted filesystem a path is on.
type Mount struct {
	Point  string // where it is mounted
	FSType string // vfat, exfat, ext4, fuseblk, fuse.fusefat, ... ("" when unknown)
	Source string // the device or image it comes from
}

// FAT32 reports whether the filesystem is FAT (FAT12/16/32): files are
// capped at 4 GiB − 1 and, mounted by udisks with showexec, binaries
// cannot be executed from it.
func (m Mount) FAT32() bool {
	t := strings.ToLower(m.FSType)
	switch t {
	case "vfat", "msdos", "fat", "umsdos", "fuse.fusefat", "fusefat":
		return true
	}
	return strings.Contains(strings.ToLower(m.Source), "fusefat")
}

// ExFAT reports whether the filesystem is exFAT (no 4 GiB limit, no
// journal, no permissions).
func (m Mount) ExFAT() bool {
	t := strings.ToLower(m.FSType)
	return t == "exfat" || t == "fuse.exfat" || t == "fuse.exfat-fuse" || t == "fuse.mount.exfat-fuse" ||
		(t == "fuseblk" && strings.Contains(strings.ToLower(m.Source), "exfat"))
}
