package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// A process's mount leases are one object per host id and instance (see
// registry.Config.Instance): the daemon's instance is "serve", an `s3vol
// mount`'s is named after its folder. Two processes with the same pair
// (two daemons on one state folder, two mounts on one folder) would share
// that object, and the first to release it would drop the other's hold:
// a delete from another host could then purge a volume still mounted. So
// each process holds a lock on its instance for as long as it runs, and a
// second one refuses to start.

// instanceLock is the held lock of one instance.
type instanceLock struct{ file *os.File }

// lockInstance takes the lock of instance in the state folder, or says
// which process holds it. what describes the process for the message.
func lockInstance(cfg *Config, instance string) (*instanceLock, error) {
	dir := filepath.Join(cfg.StateDir, "instances")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the folder of instance locks %s: %w", dir, err)
	}
	path := filepath.Join(dir, instance+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the instance lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &instanceBusyError{instance: instance, lock: path, holder: holder}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// Who holds it, for the message the next one gets.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &instanceLock{file: f}, nil
}

// Unlock releases the lock (the kernel does so too when the process dies).
func (l *instanceLock) Unlock() {
	l.file.Close()
}

func readHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid := strings.TrimSpace(string(b[:n])); pid != "" {
		return "process " + pid
	}
	return "another process"
}

// instanceBusyError says that another process runs as the same instance.
type instanceBusyError struct {
	instance, lock, holder string
}

func (e *instanceBusyError) Error() string {
	if e.instance == serveInstance {
		return fmt.Sprintf("another s3vol daemon (%s) uses the same state folder (it holds %s): two daemons on one state folder would share one mount lease and release each other's; stop it, or give this one its own S3VOL_STATE_DIR, S3VOL_SOCKET and S3VOL_MOUNT_ROOT", e.holder, e.lock)
	}
	return fmt.Sprintf("another s3vol mount (%s) serves the same folder (it holds %s): two mounts of one folder would share one mount lease and release each other's; unmount it first (Ctrl-C it, or fusermount -u the folder)", e.holder, e.lock)
}

// serveInstance is the daemon's instance: one daemon per host id, so a
// restarted daemon takes over the leases its killed predecessor left.
const serveInstance = "serve"
