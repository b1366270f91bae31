package e2e

import (
	"strings"
	"testing"
	"time"
)

// Done-when 1: the seed's examples, each through the docker CLI.

func TestCreateListInspectDelete(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	d := e.d

	if out := d.Must(t, "volume", "create", "-d", h.Driver, "data1"); out != "data1" {
		t.Fatalf("docker volume create printed %q", out)
	}
	// Idempotent: Docker and compose create again.
	d.Must(t, "volume", "create", "-d", h.Driver, "data1")
	if names := volumeNames(t, d, h.Driver); !contains(names, "data1") {
		t.Fatalf("docker volume ls shows %v, want data1 among them", names)
	}
	s := status(t, d, "data1")
	for k, want := range map[string]string{"state": "ready", "org": "default", "kind": "volume", "usage": "1/100 volumes", "mountedOn": "none"} {
		if got, _ := s[k].(string); got != want {
			t.Errorf("status %s = %q, want %q (status %v)", k, got, want, s)
		}
	}
	created := d.Must(t, "volume", "inspect", "--format", "{{.CreatedAt}}", "data1")
	if _, err := time.Parse(time.RFC3339, created); err != nil {
		t.Errorf("CreatedAt %q is not RFC 3339: %v", created, err)
	}
	prefix := dataPrefix(t, d, "data1")
	e.sh(t, "echo payload > /data/f", "-v", "data1:/data")
	if keys := e.keys(t, prefix); !contains(keys, prefix+"f") {
		t.Fatalf("the store has %v under %s, want the file f", keys, prefix)
	}

	d.Must(t, "volume", "rm", "data1")
	if names := volumeNames(t, d, h.Driver); contains(names, "data1") {
		t.Fatalf("docker volume ls still shows data1 after rm: %v", names)
	}
	// The data is purged in the background.
	eventually(t, 30*time.Second, "the deleted volume's data is still in the store", func() bool {
		return len(e.keys(t, prefix)) == 0
	})
}

func TestCreateRefusesBadOptions(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	cases := []struct {
		opts []string
		want []string
	}{
		{[]string{"-o", "colour=blue"}, []string{"unknown option", "colour", "uid=N"}},
		{[]string{"-o", "uid=alice"}, []string{"uid", "alice", "number"}},
		{[]string{"-o", "mode=999"}, []string{"mode", "octal"}},
		{[]string{"-o", "subpath=a"}, []string{"volume=NAME"}},
	}
	for _, tc := range cases {
		args := append([]string{"volume", "create", "-d", h.Driver}, tc.opts...)
		_, stderr, err := e.d.Run(t, append(args, "badopts")...)
		if err == nil {
			t.Errorf("create with %v succeeded", tc.opts)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("create with %v: message %q does not mention %q", tc.opts, stderr, w)
			}
		}
	}
	_, stderr, err := e.d.Run(t, "volume", "create", "-d", h.Driver, "bad/name")
	if err == nil || !strings.Contains(stderr, "bad/name") {
		t.Errorf("create of an invalid name: err %v, message %q", err, stderr)
	}
}

// docker run -v new:/data --volume-driver DRIVER creates the volume.
func TestRunCreatesVolume(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	e.sh(t, "echo made-by-run > /data/f", "--volume-driver", h.Driver, "-v", "madebyrun:/data")
	if drv := e.d.Must(t, "volume", "inspect", "--format", "{{.Driver}}", "madebyrun"); drv != h.Driver {
		t.Fatalf("volume madebyrun has driver %q, want %q", drv, h.Driver)
	}
	if out := e.sh(t, "cat /data/f", "-v", "madebyrun:/data"); out != "made-by-run" {
		t.Fatalf("read %q back", out)
	}
}

// Write /data/example.txt in one container, remove the container, read it
// in another.
func TestWriteRemoveContainerRead(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	e.d.Must(t, "volume", "create", "-d", h.Driver, "example")
	e.d.Must(t, "run", "--name", "writer-"+h.Driver, "--network", "none", "-v", "example:/data", e.d.Image,
		"sh", "-ec", "echo 'hello from the first container' > /data/example.txt")
	e.d.Must(t, "rm", "writer-"+h.Driver)
	if out := e.sh(t, "cat /data/example.txt", "-v", "example:/data"); out != "hello from the first container" {
		t.Fatalf("second container read %q", out)
	}
	prefix := dataPrefix(t, e.d, "example")
	if got := e.object(t, prefix+"example.txt"); got != "hello from the first container\n" {
		t.Fatalf("the store holds %q", got)
	}
}

// A producer writes a set of files and exits; a consumer created after it
// reads and checks them.
func TestProducerConsumer(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	e.d.Must(t, "volume", "create", "-d", h.Driver, "pipeline")
	e.sh(t, `mkdir -p /data/out
for i in $(seq 1 20); do echo "record $i" > /data/out/rec-$i.txt; done
dd if=/dev/urandom of=/data/out/blob bs=1024 count=3000 2>/dev/null
sha256sum /data/out/blob | cut -d' ' -f1 > /data/out/blob.sha256
echo done > /data/out/DONE`, "-v", "pipeline:/data")
	out := e.sh(t, `test -f /in/out/DONE
ls /in/out | grep -c '^rec-'
cat /in/out/rec-7.txt
[ "$(sha256sum /in/out/blob | cut -d' ' -f1)" = "$(cat /in/out/blob.sha256)" ] && echo blob-ok`, "-v", "pipeline:/in:ro")
	if want := "20\nrecord 7\nblob-ok"; out != want {
		t.Fatalf("consumer printed %q, want %q", out, want)
	}
}

// One container with two volumes at two paths.
func TestTwoVolumesInOneContainer(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	e.d.Must(t, "volume", "create", "-d", h.Driver, "vol-a")
	e.d.Must(t, "volume", "create", "-d", h.Driver, "vol-b")
	e.sh(t, "echo in-a > /a/f; echo in-b > /b/f", "-v", "vol-a:/a", "-v", "vol-b:/b")
	if out := e.sh(t, "cat /data/f", "-v", "vol-a:/data"); out != "in-a" {
		t.Fatalf("vol-a holds %q", out)
	}
	if out := e.sh(t, "cat /data/f", "-v", "vol-b:/data"); out != "in-b" {
		t.Fatalf("vol-b holds %q", out)
	}
	if a, b := dataPrefix(t, e.d, "vol-a"), dataPrefix(t, e.d, "vol-b"); a == b {
		t.Fatalf("two volumes share the data prefix %s", a)
	}
}

// Two running containers share one volume and see each other's writes at
// once: they share this host's one mount.
func TestTwoRunningContainersShare(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	e.d.Must(t, "volume", "create", "-d", h.Driver, "shared")
	for _, c := range []string{"c1", "c2"} {
		e.d.Must(t, "run", "-d", "--init", "--name", c+"-"+h.Driver, "--network", "none", "-v", "shared:/data", e.d.Image, "sleep", "600")
		t.Cleanup(func() { e.d.Run(t, "rm", "-f", c+"-"+h.Driver) })
	}
	c1, c2 := "c1-"+h.Driver, "c2-"+h.Driver
	e.d.Must(t, "exec", c1, "sh", "-ec", "echo from-c1 > /data/one")
	if out := e.d.Must(t, "exec", c2, "cat", "/data/one"); out != "from-c1" {
		t.Fatalf("c2 read %q", out)
	}
	e.d.Must(t, "exec", c2, "sh", "-ec", "echo from-c2 >> /data/one; mkdir /data/dir; echo x > /data/dir/y")
	if out := e.d.Must(t, "exec", c1, "sh", "-ec", "cat /data/one; ls /data/dir"); out != "from-c1\nfrom-c2\ny" {
		t.Fatalf("c1 read %q", out)
	}
	// One mount serves both containers.
	if got := strings.Count(mustMountinfo(t), " "+h.mountRoot+"/"); got != 1 {
		t.Fatalf("%d mounts under the mount root, want 1 shared by both containers", got)
	}
	if s := status(t, e.d, "shared"); !strings.Contains(s["mountedOn"].(string), "host-a") {
		t.Fatalf("status mountedOn = %v, want host-a", s["mountedOn"])
	}
}

func mustMountinfo(t *testing.T) string {
	t.Helper()
	s, err := readMountinfo()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
