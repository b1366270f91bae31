package s3fs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// TestRenameDirectory moves a directory of 1,200 files (some in
// subdirectories, some put by another tool, one still open for writing)
// and checks every byte under the new name and nothing under the old.
func TestRenameDirectory(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		const n = 1200
		content := func(i int) []byte { return []byte(fmt.Sprintf("file %d %s", i, bytes.Repeat([]byte{'x'}, i%50))) }
		name := func(i int) string { return fmt.Sprintf("sub%d/f%04d", i%7, i) }
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				putObject(t, st, "v/old/"+name(i), content(i), nil)
			}()
		}
		wg.Wait()
		mt := mount(t, st, Options{Prefix: "v/"})
		if err := os.Mkdir(mt.path("old/empty"), 0o755); err != nil {
			t.Fatal(err)
		}
		mt.write("old/mine", []byte("written here"))
		open, err := os.Create(mt.path("old/open"))
		if err != nil {
			t.Fatal(err)
		}
		defer open.Close() // on a failure below; closed and checked at the end otherwise
		open.Write([]byte("still open"))
		keep, err := os.Open(mt.path("old/sub3/f0003"))
		if err != nil {
			t.Fatal(err)
		}
		defer keep.Close()

		if err := os.Rename(mt.path("old"), mt.path("new")); err != nil {
			t.Fatal(err)
		}
		if _, err := open.Write([]byte(" and more")); err != nil {
			t.Fatal(err)
		}
		if err := open.Close(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		if nr, err := keep.ReadAt(buf, 0); string(buf[:nr]) != string(content(3)) {
			t.Fatalf("file open across the rename reads %q, %v", buf[:nr], err)
		}
		keep.Close()
		if ks := keys(t, st, "v/old/"); len(ks) != 0 {
			t.Fatalf("%d keys left under the old name, e.g. %v", len(ks), ks[0])
		}
		mt.remount()
		if _, err := os.Stat(mt.path("old")); !os.IsNotExist(err) {
			t.Fatalf("old still exists: %v", err)
		}
		for i := range n {
			got, err := os.ReadFile(mt.path("new/" + name(i)))
			if err != nil || !bytes.Equal(got, content(i)) {
				t.Fatalf("new/%s: %q, %v", name(i), got, err)
			}
		}
		if got := mt.read("new/mine"); string(got) != "written here" {
			t.Fatalf("new/mine: %q", got)
		}
		if got := mt.read("new/open"); string(got) != "still open and more" {
			t.Fatalf("new/open: %q", got)
		}
		if fi, err := os.Stat(mt.path("new/empty")); err != nil || !fi.IsDir() {
			t.Fatalf("new/empty: %v", err)
		}
		if err := os.Mkdir(mt.path("full"), 0o755); err != nil {
			t.Fatal(err)
		}
		mt.write("full/x", []byte("x"))
		if err := os.Rename(mt.path("new"), mt.path("full")); err == nil {
			t.Fatal("renaming onto a non-empty directory succeeded")
		}
	})
}

// TestRenameFiles: renames replace targets, keep open files readable and
// move files still being written.
func TestRenameFiles(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		mt.write("a", []byte("A"))
		mt.write("b", []byte("B"))
		if err := os.Rename(mt.path("a"), mt.path("b")); err != nil {
			t.Fatal(err)
		}
		if got := mt.read("b"); string(got) != "A" {
			t.Fatalf("b after rename over it: %q", got)
		}
		if _, err := os.Stat(mt.path("a")); !os.IsNotExist(err) {
			t.Fatalf("a still exists: %v", err)
		}
		// A file renamed while being written lands whole under the new name
		// (the rsync/git pattern: write a temp file, rename it into place).
		f, err := os.Create(mt.path("tmp"))
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("first "))
		if err := os.Rename(mt.path("tmp"), mt.path("final")); err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("second"))
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		data, _, err := getObject(t, st, "v/final")
		if err != nil || string(data) != "first second" {
			t.Fatalf("final in the store: %q %v", data, err)
		}
		if _, _, err := getObject(t, st, "v/tmp"); !store.IsNotFound(err) {
			t.Fatalf("tmp in the store: %v", err)
		}
		ctx := context.Background()
		if ks := keys(t, st, "v/"); len(ks) != 2 {
			t.Fatalf("keys %v, want v/b and v/final", ks)
		}
		_ = ctx
	})
}
