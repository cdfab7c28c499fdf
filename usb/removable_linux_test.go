package usb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSysfs builds the parts of /sys that removableFromSysfs reads.
func fakeSysfs(t *testing.T) string {
	t.Helper()
	sys := t.TempDir()
	mk := func(dev, link string, files map[string]string) {
		d := filepath.Join(sys, dev)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, v := range files {
			os.MkdirAll(filepath.Dir(filepath.Join(d, name)), 0o755)
			if err := os.WriteFile(filepath.Join(d, name), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		os.MkdirAll(filepath.Join(sys, "dev", "block"), 0o755)
		if err := os.Symlink(d, filepath.Join(sys, "dev", "block", link)); err != nil {
			t.Fatal(err)
		}
	}
	// A SATA disk's partition, a card reader (removable=1) and a USB disk
	// that says removable=0 but sits on a USB bus.
	mk("devices/pci0000:00/ata1/block/sda", "8:0", map[string]string{"removable": "0\n"})
	mk("devices/pci0000:00/ata1/block/sda/sda1", "8:1", map[string]string{"partition": "1\n"})
	mk("devices/platform/mmc/block/mmcblk0", "179:0", map[string]string{"removable": "1\n"})
	mk("devices/pci0000:00/usb2/2-1/host6/block/sdb/sdb1", "8:17", map[string]string{"partition": "1\n"})
	return sys
}

func TestRemovableFromSysfs(t *testing.T) {
	sys := fakeSysfs(t)
	cases := []struct {
		maj, min uint32
		want     Removable
	}{
		{8, 1, RemovableNo},
		{8, 0, RemovableNo},
		{179, 0, RemovableYes},
		{8, 17, RemovableYes},
		{9, 9, RemovableUnknown},
	}
	for _, c := range cases {
		got, err := removableFromSysfs(sys, c.maj, c.min, 0)
		if err != nil || got != c.want {
			t.Errorf("%d:%d = %v %v, want %v", c.maj, c.min, got, err, c.want)
		}
	}
}

func TestParseMountInfo(t *testing.T) {
	const info = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 8:17 / /media/me/MY\040STICK rw,nosuid,nodev,relatime shared:2 - vfat /dev/sdb1 rw,showexec
41 22 0:52 / /mnt/ex rw - fuseblk /dev/loop3 rw,user_id=0
bad line
`
	ms, err := parseMountInfo(strings.NewReader(info))
	if err != nil || len(ms) != 3 {
		t.Fatalf("%d mounts, %v", len(ms), err)
	}
	if ms[1].Point != "/media/me/MY STICK" || !ms[1].FAT32() || ms[1].major != 8 || ms[1].minor != 17 {
		t.Errorf("stick mount %+v", ms[1])
	}
	if ms[0].FAT32() || ms[0].ExFAT() {
		t.Errorf("ext4 taken for FAT: %+v", ms[0])
	}
	if !within("/media/me/MY STICK/data", ms[1].Point) || within("/media/me/MY STICKER", ms[1].Point) {
		t.Error("within")
	}
}

func TestIsRemovableHere(t *testing.T) {
	// Whatever the machine, the answer for a temp dir must come without
	// error; on CI it is a fixed disk, an overlay or tmpfs.
	r, err := IsRemovable(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := MountOf(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("temp dir: %v, mount %+v", r, m)
}
