package mountpath

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	long := "/" + strings.Repeat("a", MaxLen-1)      // exactly MaxLen bytes
	deep := strings.Repeat("/dir", MaxLen/4)         // 4092 bytes of components
	tooLong := "/" + strings.Repeat("a", MaxLen)     // one byte over
	longUnder := "/etc/" + strings.Repeat("x", 5000) // too long wins over /etc
	cases := []struct {
		path string
		rule error  // nil: accepted
		msg  string // expected full message when non-empty
	}{
		// Accepted.
		{path: "/data"},
		{path: "/home/app/data"},
		{path: "/data/"},
		{path: "//data"},
		{path: "//home/app"},
		{path: "/procfoo"},
		{path: "/proc.d"},
		{path: "/etcetera/x"},
		{path: "/usr/lib"},
		{path: "/var/lib/mysql"},
		{path: "/PROC"},
		{path: "/opt/.hidden"},
		{path: "/opt/..data"},
		{path: "/opt/..."},
		{path: "/a b/c"},
		{path: "/données/été"},
		{path: "/数据/卷"},
		{path: "/ｐroc"},
		{path: long},
		{path: deep},

		// Empty, NUL, length.
		{path: "", rule: ErrEmpty, msg: `mount path "" is not allowed: it is empty; give an absolute directory such as /data`},
		{path: "/data\x00", rule: ErrNUL},
		{path: "\x00", rule: ErrNUL},
		{path: "/proc\x00/x", rule: ErrNUL},
		{path: tooLong, rule: ErrTooLong},
		{path: longUnder, rule: ErrTooLong},

		// Absolute.
		{path: "data", rule: ErrNotAbsolute, msg: `mount path "data" is not allowed: it must be absolute, starting with /, for example /data`},
		{path: "./data", rule: ErrNotAbsolute},
		{path: "proc", rule: ErrNotAbsolute},
		{path: "~/data", rule: ErrNotAbsolute},
		{path: " /data", rule: ErrNotAbsolute},
		{path: `C:\data`, rule: ErrNotAbsolute},

		// Root.
		{path: "/", rule: ErrRoot, msg: `mount path "/" is not allowed: it is the container's root directory; mount the volume at a directory such as /data`},
		{path: "//", rule: ErrRoot},

		// Relative components.
		{path: "/data/../x", rule: ErrRelative, msg: `mount path "/data/../x" is not allowed: it contains the relative component ".."; write the path without . or .. components, for example /data`},
		{path: "/data/./x", rule: ErrRelative},
		{path: "/data/..", rule: ErrRelative},
		{path: "/data/.", rule: ErrRelative},
		{path: "/..", rule: ErrRelative},
		{path: "/.", rule: ErrRelative},
		{path: "/../proc", rule: ErrRelative},
		{path: "/etc/../etc", rule: ErrRelative},
		{path: "/data/../", rule: ErrRelative},
		{path: "//..", rule: ErrRelative},

		// Consecutive slashes after the start.
		{path: "/data//x", rule: ErrDoubleSlash, msg: `mount path "/data//x" is not allowed: it contains consecutive slashes (//) after its start; separate directories with one slash, for example /data/app`},
		{path: "///", rule: ErrDoubleSlash},
		{path: "///data", rule: ErrDoubleSlash},
		{path: "/data//", rule: ErrDoubleSlash},
		{path: "//data//x", rule: ErrDoubleSlash},

		// System directories, by component.
		{path: "/proc/x", rule: ErrSystemDir, msg: `mount path "/proc/x" is not allowed: it lies under the system directory /proc; s3vol volumes may not be mounted at or under /proc, /sys, /dev, /boot, /etc, /bin, /sbin, /lib, /lib64`},
		{path: "/etc", rule: ErrSystemDir, msg: `mount path "/etc" is not allowed: it is the system directory /etc; s3vol volumes may not be mounted at or under /proc, /sys, /dev, /boot, /etc, /bin, /sbin, /lib, /lib64`},
		{path: "/proc", rule: ErrSystemDir},
		{path: "/proc/", rule: ErrSystemDir},
		{path: "//proc", rule: ErrSystemDir},
		{path: "//proc/1/root", rule: ErrSystemDir},
		{path: "/sys/fs/cgroup", rule: ErrSystemDir},
		{path: "/dev/shm", rule: ErrSystemDir},
		{path: "/boot", rule: ErrSystemDir},
		{path: "/etc/foo", rule: ErrSystemDir},
		{path: "/bin", rule: ErrSystemDir},
		{path: "/sbin/x", rule: ErrSystemDir},
		{path: "/lib/modules", rule: ErrSystemDir},
		{path: "/lib64", rule: ErrSystemDir},
		{path: "/etc/données", rule: ErrSystemDir},
	}
	for _, c := range cases {
		err := Check(c.path)
		if c.rule == nil {
			if err != nil {
				t.Errorf("Check(%s) = %v, want accepted", quote(c.path), err)
			}
			continue
		}
		if !errors.Is(err, c.rule) {
			t.Errorf("Check(%s) = %v, want rule %q", quote(c.path), err, c.rule)
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Path != c.path {
			t.Errorf("Check(%s): error %#v does not carry the path", quote(c.path), err)
		}
		if c.msg != "" && err.Error() != c.msg {
			t.Errorf("Check(%s) message\n got: %s\nwant: %s", quote(c.path), err, c.msg)
		}
	}
}

// Every system directory is refused as itself, under itself and with the
// leading "//", while a longer name sharing its prefix is allowed.
func TestCheckEverySystemDir(t *testing.T) {
	for _, dir := range SystemDirs {
		for _, p := range []string{dir, dir + "/", dir + "/x", "/" + dir, "/" + dir + "/x/y"} {
			err := Check(p)
			if !errors.Is(err, ErrSystemDir) || !strings.Contains(err.Error(), "system directory "+dir+";") {
				t.Errorf("Check(%q) = %v, want refusal naming %s", p, err, dir)
			}
		}
		for _, p := range []string{dir + "foo", dir + "-data/x", "/data" + dir} {
			if err := Check(p); err != nil {
				t.Errorf("Check(%q) = %v, want accepted", p, err)
			}
		}
	}
}

// A very long path is shortened in the message, which still says how long
// it was and what the limit is.
func TestLongPathMessage(t *testing.T) {
	p := "/" + strings.Repeat("x", 10000)
	msg := Check(p).Error()
	if len(msg) > 300 || !strings.Contains(msg, "10001 bytes") || !strings.Contains(msg, "4095") {
		t.Errorf("message for a 10001-byte path: %q", msg)
	}
}
