package localstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

// endless yields zeros forever and cancels ctx after the first MiB.
type endless struct {
	n      int
	cancel func()
}

func (e *endless) Read(p []byte) (int, error) {
	e.n += len(p)
	if e.n > 1<<20 {
		e.cancel()
	}
	clear(p)
	return len(p), nil
}

// A Put from an endless stream ends when its context does, leaving nothing
// behind; a Get stream and a listing stop too.
func TestContextCancellation(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := s.Put(ctx, "endless", &endless{cancel: cancel}, -1, store.PutOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("put from an endless stream: %v, want context canceled", err)
	}
	if got := tempFiles(t, s.Dir()); len(got) != 0 {
		t.Fatalf("the cancelled put left temp files %q", got)
	}
	bg := context.Background()
	if _, err := s.Stat(bg, "endless"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stat after the cancelled put: %v", err)
	}

	if _, err := s.Put(bg, "obj", bytes.NewReader(make([]byte, 1<<20)), 1<<20, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(bg)
	rc, _, err := s.Get(ctx, "obj", store.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cancel()
	if _, err := io.ReadAll(rc); !errors.Is(err, context.Canceled) {
		t.Fatalf("reading after cancel: %v, want context canceled", err)
	}
	var lerr error
	for _, err := range s.List(ctx, store.ListOptions{}) {
		lerr = err
	}
	if !errors.Is(lerr, context.Canceled) {
		t.Fatalf("listing with a cancelled context: %v", lerr)
	}
}

// A Put whose stream is shorter than announced fails and stores nothing.
func TestShortBody(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	_, err := s.Put(ctx, "short", strings.NewReader("abc"), 10, store.PutOptions{})
	if !errors.Is(err, store.ErrInvalidArgument) {
		t.Fatalf("short body: %v, want invalid argument", err)
	}
	if _, err := s.Stat(ctx, "short"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stat after a short put: %v", err)
	}
}

// Multipart uploads check their parts like S3 does.
func TestMultipartValidation(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	big := make([]byte, store.MinPartSize)

	mp, err := s.NewMultipart(ctx, "gap", store.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, store.MaxParts + 1} {
		if err := mp.UploadPart(ctx, n, strings.NewReader("x"), 1); !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("part %d: %v, want invalid argument", n, err)
		}
	}
	if _, err := mp.Complete(ctx); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("complete with no parts: %v, want invalid argument", err)
	}
	uploadPart(t, mp, 1, big)
	uploadPart(t, mp, 3, []byte("x"))
	if _, err := mp.Complete(ctx); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("complete with part 2 missing: %v, want invalid argument", err)
	}
	uploadPart(t, mp, 2, []byte("small"))
	if _, err := mp.Complete(ctx); !errors.Is(err, store.ErrInvalidArgument) {
		t.Errorf("complete with a small middle part: %v, want invalid argument", err)
	}
	// Uploading a part again replaces it.
	uploadPart(t, mp, 2, big)
	o, err := mp.Complete(ctx)
	if err != nil || o.Size != 2*store.MinPartSize+1 {
		t.Fatalf("complete: %+v %v", o, err)
	}
	if err := mp.UploadPart(ctx, 4, strings.NewReader("x"), 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("part after complete: %v, want not found", err)
	}
}

func uploadPart(t *testing.T, mp store.Multipart, n int, b []byte) {
	t.Helper()
	if err := mp.UploadPart(context.Background(), n, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("part %d: %v", n, err)
	}
}

// New refuses a folder that holds another format.
func TestFormatMismatch(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "FORMAT"), []byte("something else\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := localstore.New(dir); err == nil || !strings.Contains(err.Error(), "not a folder of this store") {
		t.Fatalf("New on a foreign folder: %v", err)
	}
}

// mountTmpfs mounts a small tmpfs for tests that need a full or read-only
// filesystem.
func mountTmpfs(t *testing.T, size string) string {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// A full disk is ErrNoSpace, and the failed write leaves no temp file.
func TestNoSpace(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	s := newStoreIn(t, dir)
	_, err := s.Put(context.Background(), "big", bytes.NewReader(make([]byte, 4<<20)), 4<<20, store.PutOptions{})
	if !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("put of 4 MiB into 2 MiB: %v, want no space", err)
	}
	if got := tempFiles(t, dir); len(got) != 0 {
		t.Fatalf("the failed put left temp files %q", got)
	}
}

// A read-only store refuses writes with ErrAccessDenied and still reads.
func TestReadOnly(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	s := newStoreIn(t, dir)
	ctx := context.Background()
	if _, err := s.Put(ctx, "a", strings.NewReader("a"), 1, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remounting read-only: %v", err)
	}
	_, err := s.Put(ctx, "b", strings.NewReader("b"), 1, store.PutOptions{})
	if !errors.Is(err, store.ErrAccessDenied) {
		t.Fatalf("put on a read-only store: %v, want access denied", err)
	}
	if err := s.Delete(ctx, "a"); !errors.Is(err, store.ErrAccessDenied) {
		t.Fatalf("delete on a read-only store: %v, want access denied", err)
	}
	if _, err := s.Stat(ctx, "a"); err != nil {
		t.Fatalf("stat on a read-only store: %v", err)
	}
}
