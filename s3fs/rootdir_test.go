package s3fs

import (
	"bytes"
	"encoding/binary"
	"os"
	"syscall"
	"testing"

	"github.com/s3vol/s3vol/store/localstore"
)

// dirent is one entry as getdents64 returns it.
type dirent struct {
	ino  uint64
	name string
}

// readDirents lists dir with getdents64 itself: os.ReadDir and
// syscall.ParseDirent drop "." and "..", which this test looks for.
func readDirents(t *testing.T, dir string) map[string]dirent {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := make(map[string]dirent)
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Getdents(int(f.Fd()), buf)
		if err != nil {
			t.Fatalf("getdents %s: %v", dir, err)
		}
		if n == 0 {
			return entries
		}
		for b := buf[:n]; len(b) > 0; {
			ino := binary.NativeEndian.Uint64(b[0:8])
			reclen := binary.NativeEndian.Uint16(b[16:18])
			name := b[19:reclen]
			name = name[:bytes.IndexByte(name, 0)]
			entries[string(name)] = dirent{ino: ino, name: string(name)}
			b = b[reclen:]
		}
	}
}

func statIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// The root of a volume is a directory like the others: it has an inode
// number, and listing it, like listing any folder, shows "." and ".."
// (issue 19.9: ls -la at a volume's root showed neither, and inode 0; no
// folder's listing had them).
func TestRootIsADirectoryLikeTheOthers(t *testing.T) {
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mt := mount(t, st, Options{Prefix: "vol/"})
	if err := os.Mkdir(mt.path("sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	mt.write("sub/f", []byte("x"))
	mt.write("g", []byte("y"))

	rootIno := statIno(t, mt.dir)
	if rootIno == 0 {
		t.Errorf("the root's inode number is 0")
	}
	sub := readDirents(t, mt.path("sub"))
	root := readDirents(t, mt.dir)
	t.Logf("sub: %v; root: %v", sub, root)
	for _, name := range []string{".", ".."} {
		if _, ok := sub[name]; !ok {
			t.Errorf("a folder's listing has no %q", name)
		}
		if _, ok := root[name]; !ok {
			t.Errorf("the root's listing has no %q", name)
		}
	}
	if _, ok := root["g"]; !ok {
		t.Errorf("the root's listing has no g: %v", root)
	}
	if d, ok := root["."]; ok && d.ino != rootIno {
		t.Errorf("the root's \".\" has inode %d, the root itself %d", d.ino, rootIno)
	}
	if d, ok := sub[".."]; ok && d.ino != rootIno {
		t.Errorf("sub's \"..\" has inode %d, the root %d", d.ino, rootIno)
	}
}
