package mountpath

import (
	"errors"
	"path"
	"strings"
	"testing"
)

// FuzzCheck compares Check with an independent oracle built on path.Clean
// and asserts what an accepted path always is. Run it with
// `go test -fuzz=FuzzCheck ./mountpath`; a plain `go test` runs the seeds
// below and those in testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	for _, seed := range []string{
		"", "/", "//", "///", "/data", "/data/", "//data", "/proc", "/proc/", "//proc",
		"/procfoo", "/etc/../etc", "/data/./x", "/data/..", "/data//x", "data",
		"/données/été", "/数据", "/a\x00b", "/lib64/x", "/lib6", "/..", "/.", "//..",
		"/" + strings.Repeat("a", MaxLen-1), "/" + strings.Repeat("a", MaxLen),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := Check(p)
		want := oracle(p)
		if (err == nil) != want {
			t.Fatalf("Check(%q) = %v, but the oracle says accepted=%v", p, err, want)
		}
		if err != nil {
			assertRefusal(t, p, err)
			return
		}
		assertAccepted(t, p)
	})
}

// oracle decides acceptance differently from Check: it normalises the path
// (one leading slash, no trailing slash) and asks path.Clean whether
// anything would change.
func oracle(p string) bool {
	if len(p) == 0 || len(p) > MaxLen || strings.ContainsRune(p, 0) || p[0] != '/' {
		return false
	}
	q := p
	if strings.HasPrefix(q, "//") {
		q = q[1:]
	}
	q = strings.TrimSuffix(q, "/")
	if q == "" || q == "/" || path.Clean(q) != q {
		return false
	}
	for _, dir := range SystemDirs {
		if q == dir || strings.HasPrefix(q, dir+"/") {
			return false
		}
	}
	return true
}

func assertRefusal(t *testing.T, p string, err error) {
	var e *Error
	if !errors.As(err, &e) || e.Path != p || e.Rule == nil || !errors.Is(err, e.Rule) {
		t.Fatalf("Check(%q) returned %#v, want an *Error carrying the path and its rule", p, err)
	}
	if !strings.HasPrefix(err.Error(), "mount path ") || len(err.Error()) > 400 {
		t.Fatalf("Check(%q) message %q: want a short message starting with \"mount path \"", p, err)
	}
}

// assertAccepted states the invariants of an accepted path directly.
func assertAccepted(t *testing.T, p string) {
	if !path.IsAbs(p) {
		t.Fatalf("accepted %q is not absolute", p)
	}
	clean := path.Clean(p)
	if clean == "/" {
		t.Fatalf("accepted %q is the root", p)
	}
	if clean != strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/") && clean != strings.TrimSuffix(p, "/") {
		t.Fatalf("accepted %q is not clean (Clean gives %q)", p, clean)
	}
	for _, dir := range SystemDirs {
		if clean == dir || strings.HasPrefix(clean, dir+"/") {
			t.Fatalf("accepted %q lies at or under %s", p, dir)
		}
	}
}
