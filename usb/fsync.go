package usb

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeFileSync writes data to path through a temporary file in the same
// folder, fsyncs it, renames it into place and fsyncs the folder, so a pull
// or crash leaves either the old file or the new one.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	// FAT has no exec bits to keep; elsewhere the mode is set explicitly
	// because the umask trimmed it at create.
	_ = os.Chmod(tmp, perm)
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a folder so that a new or renamed entry in it is durable.
// Systems that cannot fsync a folder (Windows) make this a no-op.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !dirSyncUnsupported(err) {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
