package s3fs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// sysfsMu serialises writes through a private sysfs mount.
var sysfsMu sync.Mutex

// writeSysfs writes value to the sysfs file rel (relative to /sys). Where
// /sys is read-only, as in a managed Docker plugin (which has
// CAP_SYS_ADMIN all the same), it mounts a sysfs of its own in a scratch
// folder, writes through it and unmounts it at once: the plugin's root is
// a shared mount, so a mount left there would show on the host too.
func writeSysfs(rel string, value []byte) error {
	path := filepath.Join("/sys", rel)
	err := os.WriteFile(path, value, 0)
	if !errors.Is(err, syscall.EROFS) {
		return err
	}
	if perr := writePrivateSysfs(rel, value); perr != nil {
		return fmt.Errorf("%w, and through a sysfs of its own: %w", err, perr)
	}
	return nil
}

func writePrivateSysfs(rel string, value []byte) error {
	sysfsMu.Lock()
	defer sysfsMu.Unlock()
	dir, err := os.MkdirTemp("", "s3vol-sysfs-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := unix.Mount("sysfs", dir, "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting sysfs at %s: %w", dir, err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	return os.WriteFile(filepath.Join(dir, rel), value, 0)
}
