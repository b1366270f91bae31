package s3fs

import (
	"bytes"
	"os"
	"slices"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// TestReadWriteReaddir is the core: files written through the mount are
// plain objects, objects put by other tools are files, and both survive a
// remount.
func TestReadWriteReaddir(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		putObject(t, st, "vol/from-tool.txt", []byte("hello from another tool"), nil)
		putObject(t, st, "vol/deep/a/b.bin", pattern(1, 3<<20), nil)
		mt := mount(t, st, Options{Prefix: "vol/"})

		if got := mt.read("from-tool.txt"); string(got) != "hello from another tool" {
			t.Fatalf("read %q", got)
		}
		if got := mt.read("deep/a/b.bin"); !bytes.Equal(got, pattern(1, 3<<20)) {
			t.Fatalf("big object read back wrong (%d bytes)", len(got))
		}
		small := []byte("small file")
		big := pattern(2, 20<<20+12345)
		mt.write("small.txt", small)
		mt.write("big.bin", big)
		if err := os.Mkdir(mt.path("newdir"), 0o755); err != nil {
			t.Fatal(err)
		}
		data, _, err := getObject(t, st, "vol/big.bin")
		if err != nil || !bytes.Equal(data, big) {
			t.Fatalf("big.bin in the store: %d bytes, %v", len(data), err)
		}
		names := readDirNames(t, mt.path(""))
		want := []string{"big.bin", "deep", "from-tool.txt", "newdir", "small.txt"}
		if !slices.Equal(names, want) {
			t.Fatalf("readdir = %v, want %v", names, want)
		}

		mt.remount()
		if names := readDirNames(t, mt.path("")); !slices.Equal(names, want) {
			t.Fatalf("after remount readdir = %v, want %v", names, want)
		}
		if got := mt.read("big.bin"); !bytes.Equal(got, big) {
			t.Fatal("big.bin read back wrong after remount")
		}
		if got := mt.read("small.txt"); !bytes.Equal(got, small) {
			t.Fatal("small.txt read back wrong after remount")
		}
		st0, err := os.Stat(mt.path("newdir"))
		if err != nil || !st0.IsDir() {
			t.Fatalf("empty directory lost across remount: %v", err)
		}
	})
}

func readDirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
