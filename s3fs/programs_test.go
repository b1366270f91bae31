package s3fs

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/store"
)

// sh runs a shell script in dir. The script changes into dir itself: a
// child that chdirs into a FUSE mount served by its own parent before exec
// can deadlock (see go-fuse's fs package docs).
func sh(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("sh", "-ec", "cd \"$0\"\n"+script, dir)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s\nfailed: %v\n%s", script, err, out)
	}
	return string(out)
}

// TestGit: a repository on the mount works with git, also after a remount.
func TestGit(t *testing.T) {
	testenv.NeedCommand(t, "git", "git")
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		sh(t, mt.dir, `
git init -q repo
cd repo
git config user.email t@example.com
git config user.name Tester
mkdir -p src/pkg
echo 'package main' > src/main.go
seq 1 20000 > src/pkg/numbers.txt
printf '#!/bin/sh\necho hi\n' > run.sh
chmod +x run.sh
git add .
git commit -q -m first
echo change >> src/main.go
git status --porcelain > ../status.txt
git commit -q -am second
git mv run.sh run2.sh
git commit -q -m third
`)
		if got := string(mt.read("status.txt")); got != " M src/main.go\n" {
			t.Fatalf("git status = %q", got)
		}
		mt.remount()
		out := sh(t, mt.path("repo"), `
git status --porcelain
git log --oneline | wc -l
git fsck --no-progress 2>&1
git log -p --format=%s | grep -c numbers.txt || true
./run2.sh
`)
		if want := "3\nhi\n"; !strings.Contains(out, "3\n") || !strings.HasSuffix(out, "hi\n") || strings.Contains(out, "error") {
			t.Fatalf("after remount: %q, want a clean status, 3 commits, no fsck errors, %q", out, want)
		}
		if lines := strings.Split(out, "\n"); lines[0] != "3" {
			t.Fatalf("git status after remount is not clean: %q", out)
		}
	})
}

// TestSQLite: a database of 10,000 rows inserted in transactions reads
// back whole after a remount.
func TestSQLite(t *testing.T) {
	testenv.NeedCommand(t, "sqlite3", "sqlite3")
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		var sql strings.Builder
		sql.WriteString("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, blob BLOB);\n")
		for tx := range 10 {
			sql.WriteString("BEGIN;\n")
			for i := range 1000 {
				n := tx*1000 + i
				fmt.Fprintf(&sql, "INSERT INTO t (id, name, blob) VALUES (%d, 'row %d', randomblob(%d));\n", n, n, n%300)
			}
			sql.WriteString("COMMIT;\n")
		}
		script := filepath.Join(t.TempDir(), "load.sql")
		if err := os.WriteFile(script, []byte(sql.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		sh(t, mt.dir, `sqlite3 test.db < "`+script+`"`)
		mt.remount()
		out := sh(t, mt.dir, `sqlite3 test.db "PRAGMA integrity_check; SELECT count(*), sum(id), sum(length(blob)) FROM t; SELECT name FROM t WHERE id = 4242;"`)
		var wantBlob int
		for n := range 10000 {
			wantBlob += max(n%300, 1) // randomblob(0) is one byte
		}
		want := fmt.Sprintf("ok\n10000|%d|%d\nrow 4242\n", 9999*10000/2, wantBlob)
		if out != want {
			t.Fatalf("after remount: %q, want %q", out, want)
		}
		// And it keeps working: an update in a transaction, read back.
		out = sh(t, mt.dir, `sqlite3 test.db "BEGIN; UPDATE t SET name = 'changed' WHERE id < 5000; COMMIT; SELECT count(*) FROM t WHERE name = 'changed';"`)
		if out != "5000\n" {
			t.Fatalf("update: %q", out)
		}
	})
}

// TestCopyTools: cp -a, tar and rsync -a of a tree with mixed file sizes,
// modes, symlinks and empty directories land exactly, also after a
// remount.
func TestCopyTools(t *testing.T) {
	for _, c := range []string{"rsync", "tar", "diff"} {
		testenv.NeedCommand(t, c, c)
	}
	src := makeTree(t)
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		sh(t, mt.dir, `
cp -a "`+src+`" cp
mkdir tar && tar -C "`+src+`" -cf - . | tar -C tar -xf -
rsync -a "`+src+`/" rsync/
`)
		check := func() {
			for _, d := range []string{"cp", "tar", "rsync"} {
				out, err := exec.Command("diff", "-r", "--no-dereference", src, mt.path(d)).CombinedOutput()
				if err != nil {
					t.Fatalf("diff -r %s: %v\n%s", d, err, out)
				}
				compareTrees(t, src, mt.path(d))
			}
		}
		check()
		mt.remount()
		check()
	})
}

// makeTree builds a source tree on the local disk.
func makeTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "src")
	old := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	files := map[string]int{
		"empty": 0, "one": 1, "small.txt": 100, "page": 4095, "page2": 4096,
		"a/b/medium": 100_000, "a/mib": 1 << 20, "a/b/c/large": 9<<20 + 3, "exec.sh": 300,
	}
	for name, size := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, pattern(byte(len(name)), size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(filepath.Join(root, "exec.sh"), 0o755))
	must(os.Chmod(filepath.Join(root, "page"), 0o600))
	must(os.MkdirAll(filepath.Join(root, "emptydir/nested"), 0o700))
	must(os.Symlink("a/b/medium", filepath.Join(root, "link")))
	must(os.Symlink("../../small.txt", filepath.Join(root, "a/b/uplink")))
	must(os.Symlink("b", filepath.Join(root, "a/dirlink")))
	for name := range files {
		must(os.Chtimes(filepath.Join(root, name), old, old))
	}
	return root
}

// compareTrees checks types, permissions, sizes, symlink targets and file
// mtimes (to the second) of two trees.
func compareTrees(t *testing.T, want, got string) {
	t.Helper()
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		wi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		gi, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			return err
		}
		if wi.Mode() != gi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
		}
		if wi.Mode().IsRegular() {
			if wi.Size() != gi.Size() || wi.ModTime().Unix() != gi.ModTime().Unix() {
				t.Errorf("%s: size %d mtime %v, want %d %v", rel, gi.Size(), gi.ModTime(), wi.Size(), wi.ModTime())
			}
		}
		if wi.Mode()&os.ModeSymlink != 0 {
			wl, _ := os.Readlink(p)
			gl, _ := os.Readlink(filepath.Join(got, rel))
			if wl != gl {
				t.Errorf("%s: link to %q, want %q", rel, gl, wl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = bytes.Equal
}
