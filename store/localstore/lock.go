package localstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"syscall"
	"time"
)

// lockStripes is the number of lock files; keys share them by hash, which
// bounds the files while keeping unrelated keys mostly apart.
const lockStripes = 256

// lockKey takes the exclusive lock that guards commits and deletes of key,
// across goroutines and processes: every call opens the lock file anew, and
// flock(2) locks held through different open files exclude each other even
// within one process. The lock is held only around a check and a rename,
// so waiting for it is short; the wait still gives up when ctx ends.
func (s *Store) lockKey(ctx context.Context, key string) (unlock func(), err error) {
	h := fnv.New32a()
	h.Write([]byte(key))
	p := fmt.Sprintf("%s/%02x", locksDir, h.Sum32()%lockStripes)
	f, err := s.root.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file %s: %w", p, err)
	}
	if err := flock(ctx, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	// Closing the file releases the lock.
	return func() { f.Close() }, nil
}

// flock takes an exclusive lock on f, polling without blocking so that a
// cancelled ctx is noticed.
func flock(ctx context.Context, f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	wait := 50 * time.Microsecond
	for {
		var lerr error
		if err := rc.Control(func(fd uintptr) {
			lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB)
		}); err != nil {
			return err
		}
		if lerr == nil {
			return nil
		}
		if !errors.Is(lerr, syscall.EWOULDBLOCK) && !errors.Is(lerr, syscall.EINTR) {
			return lerr
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Millisecond)
	}
}
