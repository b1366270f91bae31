package s3fs

import (
	"context"
	"os"
	"testing"
	"time"
)

// A file renamed here and then moved with its directory, after its
// object was deleted elsewhere (so the directory rename has no copy of it
// to point it at), is stored where the tree shows it when it is written
// again, not under the name of its first rename, which would bring the
// moved directory back.
func TestRenamedFileFollowsItsDirectory(t *testing.T) {
	st := backends[0].open(t)
	mt := mount(t, st, Options{Prefix: "v/"})
	if err := os.Mkdir(mt.path("a"), 0o755); err != nil {
		t.Fatal(err)
	}
	mt.write("a/x", []byte("hello"))
	f, err := os.OpenFile(mt.path("a/x"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Rename(mt.path("a/x"), mt.path("a/y")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Delete(ctx, "v/a/y"); err != nil { // another host
		t.Fatal(err)
	}
	if err := os.Rename(mt.path("a"), mt.path("b")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("world"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := getObject(t, st, "v/a/y"); err == nil {
		t.Fatal("the file was stored as a/y, under its directory's old name")
	}
	if got, _, err := getObject(t, st, "v/b/y"); err != nil || string(got) != "world" {
		t.Fatalf("b/y in the store: %q, %v; want the bytes written", got, err)
	}
}
