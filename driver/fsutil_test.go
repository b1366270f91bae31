package driver

import (
	"context"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3vol/s3vol/internal/testenv"
)

// stuckRoot is a FUSE filesystem whose server is alive but never answers
// statfs, like a hung daemon.
type stuckRoot struct {
	fs.Inode
	release chan struct{}
}

func (r *stuckRoot) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	<-r.release
	return 0
}

// isDead gives up on a mount whose server does not answer: start-up asks
// it about every FUSE mount under the mount root and must not hang there.
func TestIsDeadDoesNotHangOnAStuckMount(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	root := &stuckRoot{release: make(chan struct{})}
	srv, err := fs.Mount(dir, root, &fs.Options{MountOptions: fuse.MountOptions{DirectMount: true, Name: "s3vol-test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(root.release)
		if err := srv.Unmount(); err != nil {
			detach(dir)
		}
	}()
	if isDead(dir) {
		t.Fatal("a mount whose server is alive was taken for dead")
	}
}
