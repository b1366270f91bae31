package observe

import (
	"os"
	"path/filepath"
	"testing"
)

// Open, unlinked files under the folder are counted with the space they
// take on disk (sparse holes excluded); closed ones and those elsewhere
// are not.
func TestStagedOnDisk(t *testing.T) {
	dir := t.TempDir()
	open := func(where string, data []byte, hole int64) *os.File {
		f, err := os.CreateTemp(where, "staging-*")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if err := os.Remove(f.Name()); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data, hole); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		return f
	}
	open(filepath.Join(dir), make([]byte, 1<<20), 0)
	open(filepath.Join(dir), make([]byte, 64<<10), 100<<20) // 100 MiB hole, then 64 KiB
	open(t.TempDir(), make([]byte, 1<<20), 0)               // another folder
	closed := open(dir, make([]byte, 1<<20), 0)
	closed.Close()

	files, bytes := StagedOnDisk(dir)
	if files != 2 {
		t.Fatalf("files = %d, want 2", files)
	}
	// Allocation rounds up to blocks; a hole takes nothing.
	if want := int64(1<<20 + 64<<10); bytes < want || bytes > want+1<<20 {
		t.Fatalf("bytes = %d, want about %d (the hole not counted)", bytes, want)
	}
}
