package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/s3vol/s3vol/internal/dockertest"
	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/internal/testenv"
)

// Issue 19.6: the managed plugin raises the kernel's read-ahead of its
// mounts to 1 MiB as the legacy daemon does, though its /sys is
// read-only. (The test logs the time of a sequential read through each,
// for comparison; it asserts no speed.)
func TestManagedPluginReadAhead(t *testing.T) {
	testenv.NeedFUSE(t)
	testenv.NeedCommand(t, "make", "make")
	left := &leftovers{}
	t.Cleanup(left.reap) // after the engine's clean-up
	srv := miniotest.Shared(t)
	e := &env{d: dockertest.Private(t), srv: srv, bucket: srv.NewBucket(t)}
	p := e.buildManagedPlugin(t, left)
	p.writeCredentials(t)
	p.enable(t, "S3VOL_ENDPOINT="+srv.URL(), "S3VOL_REGION="+srv.Region, "S3VOL_BUCKET="+e.bucket, "S3VOL_HOST_ID=managed", "S3VOL_MOUNT_GRACE=300ms")

	e.d.Must(t, "volume", "create", "-d", p.Name, "big")
	e.sh(t, "dd if=/dev/zero of=/data/f bs=1M count=256 2>/dev/null", "-v", "big:/data")
	holder := "holder-" + p.Name
	e.d.Must(t, "run", "-d", "--name", holder, "--network", "none", "-v", "big:/data", e.d.Image, "sleep", "600")
	var mounts []string
	eventually(t, 30*time.Second, "the plugin's mount of big does not show on the host", func() bool {
		mounts = p.mounts(t)
		return len(mounts) > 0
	})
	if kb := readAheadKB(t, mounts[0]); kb != 1024 {
		t.Errorf("the managed plugin's mount %s has a kernel read-ahead of %d KiB, want 1024", mounts[0], kb)
	}
	if strings.Contains(mustMountinfo(t), "s3vol-sysfs-") {
		t.Errorf("the plugin left the sysfs it mounted to set the read-ahead on the host:\n%s", mustMountinfo(t))
	}
	e.d.Must(t, "rm", "-f", holder)

	// Each read on a fresh mount, so that nothing comes from its page cache.
	unmounted := func() bool { return len(p.mounts(t)) == 0 }
	for i := 0; i < 3; i++ {
		eventually(t, 30*time.Second, "the plugin's mount of big stays", unmounted)
		t.Logf("managed plugin: %s", timedRead(t, e, "big"))
	}
	// The legacy daemon, on an engine of its own, serves the same
	// organization: big is its too.
	legacy := &env{d: dockertest.Private(t), srv: srv, bucket: e.bucket}
	// It runs the plugin's binary (the test's has the race detector), with
	// the plugin's log level and memory.
	h := legacy.startHost(t, "legacy", "S3VOL_LOG_LEVEL=info", "S3VOL_MEMORY=256MiB")
	h.stop(t)
	h.binary = filepath.Join(p.dir, "s3vol")
	h.start(t)
	for i := 0; i < 3; i++ {
		eventually(t, 30*time.Second, "the legacy daemon's mount of big stays", func() bool { return !h.mounted() })
		t.Logf("legacy daemon: %s", timedRead(t, legacy, "big", "--volume-driver", h.Driver))
	}
}

// readAheadKB is the kernel read-ahead of the filesystem mounted at dir.
func readAheadKB(t *testing.T, dir string) int {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev)))
	if err != nil {
		t.Fatal(err)
	}
	var kb int
	fmt.Sscan(strings.TrimSpace(string(b)), &kb)
	return kb
}

// timedRead reads /data/f of vol in a new container, on a fresh mount,
// and returns the time the read took, measured in the container.
func timedRead(t *testing.T, e *env, vol string, opts ...string) string {
	t.Helper()
	now := `$(cut -d' ' -f1 /proc/uptime | tr -d .)` // in 1/100 s
	return e.sh(t, `s=`+now+`; cat /data/f > /dev/null; echo "read 256 MiB in $(( (`+now+` - s) * 10 )) ms"`, append(opts, "-v", vol+":/data")...)
}
