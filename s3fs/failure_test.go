package s3fs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/store"
)

// TestUploadFailure stops MinIO while files are being written: close must
// fail, and nothing partial may become visible; the old content of an
// overwritten file stays whole.
func TestUploadFailure(t *testing.T) {
	testenv.NeedFUSE(t)
	if os.Getenv("S3VOL_TEST_ENDPOINT") != "" {
		t.Skip("needs a MinIO the test can stop (S3VOL_TEST_ENDPOINT points at an external one)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := miniotest.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	bucket := srv.NewBucket(t)
	st := openMinio(t, srv, bucket)
	mt := mount(t, st, Options{Prefix: "v/", PartSize: store.MinPartSize})

	old := pattern(1, 3<<20)
	mt.write("existing", old)
	big := pattern(2, 24<<20) // several parts
	files := map[string]*os.File{}
	for _, name := range []string{"existing", "new-small", "new-big"} {
		f, err := os.Create(mt.path(name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[name] = f
	}
	files["new-small"].Write([]byte("small"))
	half := len(big) / 2
	for _, name := range []string{"existing", "new-big"} {
		if _, err := files[name].Write(big[:half]); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"existing", "new-big"} {
		// A streaming upload may report the failure at once.
		if _, err := files[name].Write(big[half:]); err != nil && !errors.Is(err, syscall.EIO) {
			t.Fatalf("write after the store stopped: %v, want success or EIO", err)
		}
	}
	for name, f := range files {
		err := f.Close()
		if !errors.Is(err, syscall.EIO) {
			t.Errorf("close of %s with the store stopped: %v, want EIO", name, err)
		}
	}
	srv.StartT(t)
	if data, _, err := getObject(t, st, "v/existing"); err != nil || !bytes.Equal(data, old) {
		t.Fatalf("existing after the failed overwrite: %d bytes, %v; want the old content whole", len(data), err)
	}
	for _, name := range []string{"v/new-small", "v/new-big"} {
		if _, _, err := getObject(t, st, name); !store.IsNotFound(err) {
			t.Errorf("%s after its upload failed: %v, want not found", name, err)
		}
	}
}
