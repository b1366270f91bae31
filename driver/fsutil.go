package driver

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"
)

// prepareMountpoint makes dir an empty folder to mount on, detaching a dead
// FUSE mount a killed daemon left there.
func prepareMountpoint(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if !errors.Is(err, syscall.ENOTCONN) {
			return err
		}
	}
	mounted, err := isMountpoint(dir)
	if err != nil {
		return err
	}
	if mounted {
		if err := detach(dir); err != nil {
			return fmt.Errorf("%s is still mounted from an earlier run: %w", dir, err)
		}
	}
	return os.MkdirAll(dir, 0o755)
}

// detach lazily unmounts dir: the kernel drops it from the namespace now and
// frees it when the last user leaves.
func detach(dir string) error {
	err := syscall.Unmount(dir, syscall.MNT_DETACH)
	if err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("detaching %s: %w", dir, err)
	}
	return nil
}

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	point  string
	fstype string
}

// mountsUnder lists the mounts at or below dir, deepest first.
func mountsUnder(dir string) ([]mountInfo, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	defer f.Close()
	var out []mountInfo
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source super
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		point := unescapeMountPath(fields[4])
		if point == dir || strings.HasPrefix(point, dir+"/") {
			out = append(out, mountInfo{point: point, fstype: fields[sep+1]})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	// Deeper mounts first, so parents are detached after their children.
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].point) > len(out[j].point) })
	return out, nil
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isMountpoint(dir string) (bool, error) {
	ms, err := mountsUnder(dir)
	if err != nil {
		return false, err
	}
	for _, m := range ms {
		if m.point == dir {
			return true, nil
		}
	}
	return false, nil
}

// statfsTimeout bounds isDead's question. A server that is alive but stuck
// never answers, and start-up, which asks about every FUSE mount under the
// mount root, must not hang on it.
const statfsTimeout = 5 * time.Second

// isDead reports whether a FUSE mount lost its server (ENOTCONN). It asks
// with statfs, which the kernel always forwards to the server, where stat
// may be answered from cached attributes. A mount that does not answer in
// time has a live server, so it is not dead (the statfs is left behind).
func isDead(dir string) bool {
	done := make(chan error, 1)
	go func() {
		var st syscall.Statfs_t
		done <- syscall.Statfs(dir, &st)
	}()
	select {
	case err := <-done:
		return errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED)
	case <-time.After(statfsTimeout):
		return false
	}
}
