package usb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// IsRemovable tells whether path is on removable media. On Linux it finds
// the block device of path's mount and asks sysfs: a "1" in the disk's
// removable file, or a /usb in its device path (USB hard disks and most
// sticks report removable=0 but sit on a USB bus). A loop device is judged
// by its backing file. Filesystems without a block device (tmpfs, overlay,
// most FUSE mounts) give RemovableUnknown.
func IsRemovable(path string) (Removable, error) {
	return isRemovable(path, "/sys", 0)
}

func isRemovable(path, sysRoot string, depth int) (Removable, error) {
	m, maj, min, err := mountOf(path)
	if err != nil {
		return RemovableUnknown, err
	}
	if maj == 0 && strings.HasPrefix(m.Source, "/dev/") {
		// FUSE mounts of a real device (exfat-fuse) show an anonymous
		// device number; the source names the device.
		var st syscall.Stat_t
		if syscall.Stat(m.Source, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFBLK {
			maj, min = devMajor(uint64(st.Rdev)), devMinor(uint64(st.Rdev))
		}
	}
	if maj == 0 {
		return RemovableUnknown, nil
	}
	return removableFromSysfs(sysRoot, maj, min, depth)
}

// removableFromSysfs judges the block device maj:min from a sysfs tree.
func removableFromSysfs(sysRoot string, maj, min uint32, depth int) (Removable, error) {
	link := filepath.Join(sysRoot, "dev", "block", fmt.Sprintf("%d:%d", maj, min))
	dev, err := filepath.EvalSymlinks(link)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return RemovableUnknown, nil
		}
		return RemovableUnknown, fmt.Errorf("usb: sysfs %s: %w", link, err)
	}
	if strings.Contains(dev, "/usb") {
		return RemovableYes, nil
	}
	disk := dev
	if _, err := os.Stat(filepath.Join(dev, "partition")); err == nil {
		disk = filepath.Dir(dev)
	}
	if b, err := os.ReadFile(filepath.Join(disk, "loop", "backing_file")); err == nil && depth < 4 {
		backing := strings.TrimSpace(string(b))
		return isRemovable(backing, sysRoot, depth+1)
	}
	b, err := os.ReadFile(filepath.Join(disk, "removable"))
	if err != nil {
		return RemovableUnknown, nil
	}
	if strings.TrimSpace(string(b)) == "1" {
		return RemovableYes, nil
	}
	return RemovableNo, nil
}

// MountOf describes the filesystem path is on, from /proc/self/mountinfo.
func MountOf(path string) (Mount, error) {
	m, _, _, err := mountOf(path)
	return m, err
}

func mountOf(path string) (Mount, uint32, uint32, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Mount{}, 0, 0, fmt.Errorf("usb: %s: %w", path, err)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Mount{}, 0, 0, fmt.Errorf("usb: mounts: %w", err)
	}
	defer f.Close()
	mounts, err := parseMountInfo(f)
	if err != nil {
		return Mount{}, 0, 0, err
	}
	best := -1
	for i, m := range mounts {
		if within(abs, m.Point) && (best < 0 || len(m.Point) >= len(mounts[best].Point)) {
			best = i
		}
	}
	if best < 0 {
		return Mount{}, 0, 0, fmt.Errorf("usb: no mount holds %s", abs)
	}
	m := mounts[best]
	return m.Mount, m.major, m.minor, nil
}

func within(path, dir string) bool {
	if dir == "/" || path == dir {
		return true
	}
	return strings.HasPrefix(path, dir+"/")
}

type mountEntry struct {
	Mount
	major, minor uint32
}

// parseMountInfo reads the proc(5) mountinfo format:
// id parent maj:min root point options [optional...] - fstype source superoptions
func parseMountInfo(r io.Reader) ([]mountEntry, error) {
	var out []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		majS, minS, _ := strings.Cut(fields[2], ":")
		maj, _ := strconv.ParseUint(majS, 10, 32)
		min, _ := strconv.ParseUint(minS, 10, 32)
		out = append(out, mountEntry{
			Mount: Mount{
				Point:  unescapeMount(fields[4]),
				FSType: fields[sep+1],
				Source: unescapeMount(fields[sep+2]),
			},
			major: uint32(maj), minor: uint32(min),
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("usb: read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMount undoes the octal escapes (\040 for space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// devMajor and devMinor split a Linux dev_t (glibc's encoding).
func devMajor(dev uint64) uint32 { return uint32((dev>>8)&0xfff | (dev>>32)&^uint64(0xfff)) }
func devMinor(dev uint64) uint32 { return uint32(dev&0xff | (dev>>12)&^uint64(0xff)) }
