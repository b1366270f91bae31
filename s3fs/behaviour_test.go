package s3fs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

// TestInterop: objects written by other tools, with and without
// metadata (s3fs-fuse's and rclone's), show up with the right attributes;
// what the mount writes is a plain object with s3fs-fuse metadata.
func TestInterop(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		putObject(t, st, "v/plain.txt", []byte("plain"), nil)
		putObject(t, st, "v/s3fs.txt", []byte("s3fs"), map[string]string{
			"mode": "33216", "uid": "1234", "gid": "5678", "mtime": "1600000000"}) // 0100700
		putObject(t, st, "v/rclone.txt", []byte("rclone"), map[string]string{"mtime": "1500000000.25"})
		putObject(t, st, "v/implicit/child", []byte("c"), nil)
		putObject(t, st, "v/explicit/", nil, map[string]string{"mode": "16872", "uid": "7"}) // 040750
		mt := mount(t, st, Options{Prefix: "v/", UID: 42, GID: 43, FileMode: 0o640, DirMode: 0o750})

		checkStat(t, mt.path("plain.txt"), 0o640, 42, 43, nil)
		mtime := time.Unix(1600000000, 0)
		checkStat(t, mt.path("s3fs.txt"), 0o700, 1234, 5678, &mtime)
		rmtime := time.Unix(1500000000, 250_000_000)
		checkStat(t, mt.path("rclone.txt"), 0o640, 42, 43, &rmtime)
		checkStat(t, mt.path("implicit"), os.ModeDir|0o750, 42, 43, nil)
		checkStat(t, mt.path("explicit"), os.ModeDir|0o750, 7, 43, nil)

		mt.write("mine.txt", []byte("mine"))
		if err := os.Chmod(mt.path("mine.txt"), 0o600); err != nil {
			t.Fatal(err)
		}
		data, obj, err := getObject(t, st, "v/mine.txt")
		if err != nil || string(data) != "mine" {
			t.Fatalf("mine.txt in the store: %q, %v", data, err)
		}
		if obj.Metadata["mode"] != "33152" || obj.Metadata["uid"] != "0" || obj.Metadata["mtime"] == "" {
			t.Fatalf("metadata of mine.txt = %v, want s3fs-fuse's mode 33152 (0100600), uid 0, mtime", obj.Metadata)
		}
	})
}

// checkStat checks mode, owner and (when given) mtime of path.
func checkStat(t *testing.T, path string, mode os.FileMode, uid, gid uint32, mtime *time.Time) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != mode || st.Uid != uid || st.Gid != gid {
		t.Errorf("%s: mode %v uid %d gid %d, want %v %d %d", filepath.Base(path), fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
	if mtime != nil && !fi.ModTime().Equal(*mtime) {
		t.Errorf("%s: mtime %v, want %v", filepath.Base(path), fi.ModTime(), *mtime)
	}
}

// TestDirectories: empty directories persist, rmdir refuses non-empty
// ones, a directory whose last file goes away stays.
func TestDirectories(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		putObject(t, st, "v/implicit/only", []byte("x"), nil)
		mt := mount(t, st, Options{Prefix: "v/"})
		if err := os.MkdirAll(mt.path("a/b/c"), 0o755); err != nil {
			t.Fatal(err)
		}
		mt.write("a/b/file", []byte("f"))
		if err := os.Mkdir(mt.path("a"), 0o755); !errors.Is(err, syscall.EEXIST) {
			t.Fatalf("mkdir of an existing directory: %v, want EEXIST", err)
		}
		if err := os.Remove(mt.path("a/b")); !errors.Is(err, syscall.ENOTEMPTY) {
			t.Fatalf("rmdir of a non-empty directory: %v, want ENOTEMPTY", err)
		}
		if err := os.Remove(mt.path("implicit/only")); err != nil {
			t.Fatal(err)
		}
		mt.remount()
		for _, d := range []string{"a/b/c", "implicit"} {
			if fi, err := os.Stat(mt.path(d)); err != nil || !fi.IsDir() {
				t.Fatalf("%s lost across remount: %v", d, err)
			}
		}
		if err := os.Remove(mt.path("a/b/c")); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(mt.path("a/b/file")); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(mt.path("a/b")); err != nil {
			t.Fatalf("rmdir of an emptied directory: %v", err)
		}
		if err := os.RemoveAll(mt.path("a")); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(mt.path("implicit")); err != nil {
			t.Fatal(err)
		}
		if ks := keys(t, st, "v/"); len(ks) != 0 {
			t.Fatalf("keys left after removing everything: %v", ks)
		}
	})
}

// TestErrnos: each refused operation fails with the errno programs expect.
func TestErrnos(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		mt.write("f", []byte("x"))
		if err := os.Mkdir(mt.path("d"), 0o755); err != nil {
			t.Fatal(err)
		}
		check := func(what string, err, want error) {
			t.Helper()
			if !errors.Is(err, want) {
				t.Errorf("%s: %v, want %v", what, err, want)
			}
		}
		_, err := os.Open(mt.path("missing"))
		check("open missing", err, syscall.ENOENT)
		_, err = os.OpenFile(mt.path("f"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		check("O_EXCL on existing", err, syscall.EEXIST)
		check("link", os.Link(mt.path("f"), mt.path("g")), syscall.EPERM)
		long := strings.Repeat("n", 256)
		_, err = os.Create(mt.path(long))
		check("256-byte name", err, syscall.ENAMETOOLONG)
		check("rmdir of a file", syscall.Rmdir(mt.path("f")), syscall.ENOTDIR)
		check("unlink of a directory", syscall.Unlink(mt.path("d")), syscall.EISDIR)
		check("setxattr", syscall.Setxattr(mt.path("f"), "user.x", []byte("y"), 0), syscall.ENOTSUP)
		check("rename exchange", renameat2(mt.path("f"), mt.path("d"), 2), syscall.EINVAL)
		// mknod of a regular file works.
		if err := syscall.Mknod(mt.path("regular"), syscall.S_IFREG|0o600, 0); err != nil {
			t.Errorf("mknod S_IFREG: %v", err)
		}

		ro := mount(t, st, Options{Prefix: "v/", ReadOnly: true})
		if got := ro.read("f"); string(got) != "x" {
			t.Fatalf("read-only mount reads %q", got)
		}
		_, err = os.Create(ro.path("new"))
		check("create on read-only", err, syscall.EROFS)
		check("mkdir on read-only", os.Mkdir(ro.path("nd"), 0o755), syscall.EROFS)
		check("chmod on read-only", os.Chmod(ro.path("f"), 0o600), syscall.EROFS)
		check("remove on read-only", os.Remove(ro.path("f")), syscall.EROFS)
	})
}

func renameat2(from, to string, flags uint) error {
	return renameat2Raw(from, to, flags)
}

// TestAppendAndRandomWrites: appends, overwrites in the middle, writes
// past the end and truncation of existing objects, byte for byte.
func TestAppendAndRandomWrites(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		orig := pattern(3, 5<<20+777)
		putObject(t, st, "v/file", orig, nil)
		mt := mount(t, st, Options{Prefix: "v/"})
		model := bytes.Clone(orig)

		f, err := os.OpenFile(mt.path("file"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		tail := pattern(4, 100_000)
		if _, err := f.Write(tail); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		model = append(model, tail...)

		f, err = os.OpenFile(mt.path("file"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		writeAt := func(data []byte, off int64) {
			if _, err := f.WriteAt(data, off); err != nil {
				t.Fatal(err)
			}
			if end := off + int64(len(data)); end > int64(len(model)) {
				model = append(model, make([]byte, end-int64(len(model)))...)
			}
			copy(model[off:], data)
		}
		writeAt([]byte("middle"), 1<<20+3)
		writeAt(pattern(5, 300_000), 4<<20-1000)
		writeAt([]byte("beyond"), int64(len(model))+5000) // leaves a hole of zeros
		got := make([]byte, 10)
		if _, err := f.ReadAt(got, 1<<20); err != nil || !bytes.Equal(got, model[1<<20:1<<20+10]) {
			t.Fatalf("read back through the same handle: %q %v", got, err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(3 << 20); err != nil {
			t.Fatal(err)
		}
		model = model[:3<<20]
		if err := f.Truncate(3<<20 + 4096); err != nil {
			t.Fatal(err)
		}
		model = append(model, make([]byte, 4096)...)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if got := mt.read("file"); !bytes.Equal(got, model) {
			t.Fatalf("content differs from the model (%d vs %d bytes)", len(got), len(model))
		}
		data, _, err := getObject(t, st, "v/file")
		if err != nil || !bytes.Equal(data, model) {
			t.Fatalf("stored object differs from the model: %v", err)
		}
		if err := os.Truncate(mt.path("file"), 10); err != nil {
			t.Fatal(err)
		}
		if data, _, _ := getObject(t, st, "v/file"); !bytes.Equal(data, model[:10]) {
			t.Fatalf("truncate(2) not committed: %d bytes", len(data))
		}
		mt.remount()
		if got := mt.read("file"); !bytes.Equal(got, model[:10]) {
			t.Fatalf("after remount: %q", got)
		}
	})
}

// TestAttributesPersist: chmod, chown and touch survive a remount, for
// files (clean and being written), directories and symlinks.
func TestAttributesPersist(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		mt.write("clean", []byte("c"))
		if err := os.Mkdir(mt.path("dir"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("clean", mt.path("link")); err != nil {
			t.Fatal(err)
		}
		mtime := time.Date(2001, 2, 3, 4, 5, 6, 700_000_000, time.UTC)
		for _, name := range []string{"clean", "dir"} {
			if err := os.Chmod(mt.path(name), 0o710); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(mt.path(name), 1001, 1002); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(mt.path(name), mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Lchown(mt.path("link"), 1003, 1004); err != nil {
			t.Fatal(err)
		}
		// Attributes set while a file is open for writing ride on its commit.
		f, err := os.Create(mt.path("open"))
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("data"))
		if err := f.Chmod(0o604); err != nil {
			t.Fatal(err)
		}
		if err := f.Chown(1005, 1006); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(mt.path("open"), mtime, mtime); err != nil {
			t.Fatal(err)
		}

		mt.remount()
		checkStat(t, mt.path("clean"), 0o710, 1001, 1002, &mtime)
		checkStat(t, mt.path("dir"), os.ModeDir|0o710, 1001, 1002, &mtime)
		checkStat(t, mt.path("open"), 0o604, 1005, 1006, &mtime)
		checkStat(t, mt.path("link"), os.ModeSymlink|0o777, 1003, 1004, nil)
		if got := mt.read("clean"); string(got) != "c" {
			t.Fatalf("content changed by chmod: %q", got)
		}
		// A listing shows the same attributes (READDIRPLUS).
		mt.remount()
		ents, err := os.ReadDir(mt.path(""))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() == "clean" {
				fi, _ := e.Info()
				if fi.Mode() != 0o710 {
					t.Errorf("clean after a listing: mode %v, want 0710", fi.Mode())
				}
			}
		}
	})
}

// TestSymlinks: links are created, read, followed, listed with their
// type and survive a remount; the target is the object's body.
func TestSymlinks(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		mt.write("target.txt", []byte("pointed at"))
		if err := os.Mkdir(mt.path("sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		links := map[string]string{"rel": "target.txt", "sub/up": "../target.txt", "dangling": "nowhere", "abs": "/etc/hostname"}
		for name, target := range links {
			if err := os.Symlink(target, mt.path(name)); err != nil {
				t.Fatal(err)
			}
		}
		check := func() {
			t.Helper()
			for name, target := range links {
				got, err := os.Readlink(mt.path(name))
				if err != nil || got != target {
					t.Errorf("readlink %s = %q, %v; want %q", name, got, err, target)
				}
				fi, err := os.Lstat(mt.path(name))
				if err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("lstat %s: %v %v", name, fi.Mode(), err)
				}
			}
			if got := mt.read("sub/up"); string(got) != "pointed at" {
				t.Errorf("following sub/up: %q", got)
			}
		}
		check()
		data, obj, err := getObject(t, st, "v/rel")
		if err != nil || string(data) != "target.txt" || obj.Metadata["mode"] != "41471" {
			t.Fatalf("stored link: %q %v %v", data, obj.Metadata, err)
		}
		mt.remount()
		ents, err := os.ReadDir(mt.path(""))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if _, isLink := links[e.Name()]; isLink && e.Type() != os.ModeSymlink {
				t.Errorf("listing shows %s as %v, want a symlink", e.Name(), e.Type())
			}
		}
		check()
		if err := os.Rename(mt.path("rel"), mt.path("sub/rel2")); err != nil {
			t.Fatal(err)
		}
		if got, err := os.Readlink(mt.path("sub/rel2")); err != nil || got != "target.txt" {
			t.Fatalf("renamed link: %q %v", got, err)
		}
	})
}

// TestOddKeysHidden: keys that cannot be paths are not listed and cannot
// be reached. MinIO refuses to store them (then the mount must still show
// none); the local store stores them all, so the hiding itself is always
// exercised.
func TestOddKeysHidden(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		const (
			doubleSlash = "v/a//b"
			dotDot      = "v/ok/../up"
		)
		odd := []string{doubleSlash, "v/./dot", "v/../dotdot", "v/" + strings.Repeat("x", 256), dotDot}
		stored := map[string]bool{}
		for _, k := range odd {
			_, err := st.Put(context.Background(), k, strings.NewReader("odd"), 3, store.PutOptions{})
			switch {
			case errors.Is(err, store.ErrInvalidArgument):
				t.Logf("the store refuses key %q: %v", k, err) // MinIO refuses them
			case err != nil:
				t.Fatal(err)
			default:
				stored[k] = true
			}
		}
		if _, local := st.(*localstore.Store); local && len(stored) != len(odd) {
			t.Fatalf("the local store stored only %v of %q: the hiding would be tested nowhere", stored, odd)
		}
		putObject(t, st, "v/fine", []byte("fine"), nil)
		mt := mount(t, st, Options{Prefix: "v/"})
		want := map[string]bool{"fine": true, "a": stored[doubleSlash], "ok": stored[dotDot]}
		for _, n := range readDirNames(t, mt.path("")) {
			if !want[n] {
				t.Errorf("odd name listed: %q", n)
			}
		}
		if stored[doubleSlash] {
			if got := readDirNames(t, mt.path("a")); len(got) != 0 {
				t.Errorf("a/ lists %v, want nothing (its only key is a//b)", got)
			}
			if err := os.Remove(mt.path("a")); !errors.Is(err, syscall.ENOTEMPTY) {
				t.Errorf("rmdir of a directory holding only a hidden key: %v, want ENOTEMPTY", err)
			}
		}
		if stored[dotDot] {
			if got := readDirNames(t, mt.path("ok")); len(got) != 0 {
				t.Errorf("ok/ lists %v", got)
			}
		}
		if _, err := os.Stat(mt.path(strings.Repeat("x", 256))); !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("256-byte name: %v, want ENAMETOOLONG", err)
		}
	})
}

// TestSubpathIsolation: a mount of a subpath sees only its prefix, and
// no path leads out of it.
func TestSubpathIsolation(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		putObject(t, st, "vol/sub/inside", []byte("in"), nil)
		putObject(t, st, "vol/sibling", []byte("secret"), nil)
		putObject(t, st, "vol/subway/x", []byte("secret"), nil)
		putObject(t, st, "other/secret", []byte("secret"), nil)
		mt := mount(t, st, Options{Prefix: "vol/sub/"})
		if names := readDirNames(t, mt.path("")); len(names) != 1 || names[0] != "inside" {
			t.Fatalf("subpath root lists %v", names)
		}
		for _, p := range []string{"../sibling", "../subway/x", "../../other/secret"} {
			if data, err := os.ReadFile(filepath.Join(mt.dir, p)); err == nil && string(data) == "secret" {
				t.Errorf("%s reached a sibling", p)
			}
		}
		if err := os.Symlink("../sibling", mt.path("escape")); err != nil {
			t.Fatal(err)
		}
		if data, err := os.ReadFile(mt.path("escape")); err == nil && string(data) == "secret" {
			t.Error("a symlink reached a sibling")
		}
		mt.write("new", []byte("n"))
		for _, k := range keys(t, st, "") {
			if !strings.HasPrefix(k, "vol/sub/") && !slicesContains([]string{"vol/sibling", "vol/subway/x", "other/secret"}, k) {
				t.Errorf("the mount wrote outside its prefix: %q", k)
			}
		}
	})
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
