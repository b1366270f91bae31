package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/internal/testenv"
)

// Issue 7: s3vol built with `make plugin`, configured with `docker plugin
// set` and `make plugin-enable`, passes the core scenarios as a managed
// plugin, survives disable and enable, and keeps its secret out of `docker
// plugin inspect`. It runs on an engine of its own, so nothing it does
// touches another engine's plugins.
func TestManagedPlugin(t *testing.T) {
	testenv.NeedFUSE(t)
	testenv.NeedCommand(t, "make", "make")
	left := &leftovers{}
	t.Cleanup(left.reap) // after the engine's clean-up
	engine := privateAuthzEngine(t)
	d := engine.Docker
	srv := miniotest.Shared(t)
	e := &env{d: d, srv: srv, bucket: srv.NewBucket(t)}

	p := e.buildManagedPlugin(t, left)
	p.writeCredentials(t)
	minio := []string{
		"S3VOL_ENDPOINT=" + srv.URL(),
		"S3VOL_REGION=" + srv.Region,
		"S3VOL_BUCKET=" + e.bucket,
		"S3VOL_HOST_ID=managed-a",
		"S3VOL_MEMORY=64MiB",
		"S3VOL_MOUNT_GRACE=300ms",
		"S3VOL_LOG_LEVEL=debug",
	}
	p.enable(t, minio...)
	checkNoSecret(t, p)

	prefix := managedCoreScenarios(t, e, p)

	// The plugin is also the mount-path authorization plugin, once the
	// engine's configuration names it.
	engine.useAuthz(t, p.Name)
	p.checkMountPathRefused(t, "data")

	p.disable(t)
	d.Must(t, "plugin", "enable", p.Name)
	checkManagedData(t, e, p, "after disable and enable")
	// dockerd drops a disabled authorization plugin; a reload brings it back.
	engine.useAuthz(t, p.Name)
	p.checkMountPathRefused(t, "data")

	// Rebuilding (the upgrade without a registry) refuses to pull an enabled
	// plugin from under its volumes; disabled, it is replaced, and the new
	// plugin, set up again, serves the same volumes.
	out, err := p.makeErr(t, "plugin", p.buildVars()...)
	if err == nil || !strings.Contains(out, "is enabled") {
		t.Fatalf("make plugin over the enabled plugin: err %v, output:\n%s\nwant a refusal saying it is enabled", err, out)
	}
	p.disable(t)
	oldID := p.ID
	p.build(t)
	if p.ID == oldID {
		t.Fatalf("make plugin kept the plugin %s instead of replacing it", oldID)
	}
	p.enable(t, minio...)
	checkManagedData(t, e, p, "after the plugin was rebuilt")

	// Delete: views first (the volume refuses to go while they point at it).
	d.Must(t, "volume", "rm", "alice", "bob")
	d.Must(t, "volume", "rm", "data")
	if names := volumeNames(t, d, p.Driver); len(names) > 0 {
		t.Fatalf("docker volume ls still shows %v after rm", names)
	}
	eventually(t, 30*time.Second, "the deleted volume's data is still in the bucket", func() bool {
		return len(e.keys(t, prefix)) == 0
	})
	checkNoSecret(t, p)

	// Without an endpoint the plugin serves the built-in local store in its
	// state folder, and needs no credentials file.
	p.disable(t)
	if err := os.Remove(filepath.Join(p.secretsDir, "credentials")); err != nil {
		t.Fatal(err)
	}
	p.enable(t, "S3VOL_ENDPOINT=", "S3VOL_REGION=", "S3VOL_BUCKET=")
	d.Must(t, "volume", "create", "-d", p.Name, "local")
	e.sh(t, "echo on-local-disk > /data/f", "-v", "local:/data")
	if out := e.sh(t, "cat /data/f", "-v", "local:/data"); out != "on-local-disk" {
		t.Fatalf("a volume of the local store read %q", out)
	}
	if st, err := os.Stat(filepath.Join(p.stateDir, "store")); err != nil || !st.IsDir() {
		t.Fatalf("the local store is not in the state folder: %v", err)
	}
}

// checkManagedData checks that the volumes of managedCoreScenarios are
// listed and hold their files.
func checkManagedData(t *testing.T, e *env, p *managedPlugin, when string) {
	t.Helper()
	if names := volumeNames(t, e.d, p.Driver); !contains(names, "data") || !contains(names, "alice") || !contains(names, "bob") {
		t.Fatalf("%s docker volume ls shows %v, want data, alice and bob", when, names)
	}
	if out := e.sh(t, "cat /data/example.txt /data/users/bob/secret-bob", "-v", "data:/data"); out != "hello from the first container\nbob-secret" {
		t.Fatalf("%s the volume holds %q", when, out)
	}
	if out := e.sh(t, "ls /data", "-v", "alice:/data"); out != "secret-alice" {
		t.Fatalf("%s alice's view lists %q", when, out)
	}
}

// managedCoreScenarios creates volume data with views alice and bob through
// the plugin, writes, reads, checks isolation and the listing, and returns
// data's prefix in the bucket.
func managedCoreScenarios(t *testing.T, e *env, p *managedPlugin) string {
	t.Helper()
	d := e.d
	if out := d.Must(t, "volume", "create", "-d", p.Name, "data"); out != "data" {
		t.Fatalf("docker volume create printed %q", out)
	}
	if drv := d.Must(t, "volume", "inspect", "--format", "{{.Driver}}", "data"); drv != p.Driver {
		t.Fatalf("volume data has driver %q, want %q", drv, p.Driver)
	}
	prefix := dataPrefix(t, d, "data")

	// Write in one container, remove it, read in a new one.
	writer := "writer-" + p.Name
	d.Must(t, "run", "--name", writer, "--network", "none", "-v", "data:/data", d.Image,
		"sh", "-ec", "echo 'hello from the first container' > /data/example.txt")
	d.Must(t, "rm", writer)
	if out := e.sh(t, "cat /data/example.txt", "-v", "data:/data"); out != "hello from the first container" {
		t.Fatalf("the second container read %q", out)
	}
	if got := e.object(t, prefix+"example.txt"); got != "hello from the first container\n" {
		t.Fatalf("the bucket holds %q", got)
	}

	// Views: alice sees her folder as the root and cannot reach bob's.
	d.Must(t, "volume", "create", "-d", p.Name, "-o", "volume=data", "-o", "subpath=users/alice", "alice")
	d.Must(t, "volume", "create", "-d", p.Name, "-o", "volume=data", "-o", "subpath=users/bob", "bob")
	e.sh(t, "echo bob-secret > /data/secret-bob", "-v", "bob:/data")
	out := e.sh(t, `echo alice-data > /data/secret-alice
ls -a /data | grep -v '^\.\.\?$'
for p in /data/../bob/secret-bob /data/../users/bob/secret-bob /users/bob/secret-bob; do
  if cat "$p" 2>/dev/null; then echo "LEAK via $p"; fi
done
ln -s ../bob /data/up-bob
if cat /data/up-bob/secret-bob 2>/dev/null; then echo "LEAK via symlink"; fi
rm /data/up-bob`, "-v", "alice:/data")
	if out != "secret-alice" {
		t.Fatalf("alice's container printed %q, want only its own file listed (and no LEAK)", out)
	}
	if out := e.sh(t, "ls /all/users; cat /all/users/alice/secret-alice", "-v", "data:/all:ro"); out != "alice\nbob\nalice-data" {
		t.Fatalf("the whole volume shows %q", out)
	}

	names := volumeNames(t, d, p.Driver)
	for _, want := range []string{"data", "alice", "bob"} {
		if !contains(names, want) {
			t.Fatalf("docker volume ls shows %v, want %s among them", names, want)
		}
	}
	return prefix
}

// checkNoSecret fails the test if the MinIO secret key shows in `docker
// plugin inspect` or in the engine's log (where the plugin's output goes).
func checkNoSecret(t *testing.T, p *managedPlugin) {
	t.Helper()
	secret := p.e.srv.SecretKey
	if inspect := p.e.d.Must(t, "plugin", "inspect", p.Name); strings.Contains(inspect, secret) {
		t.Errorf("docker plugin inspect %s shows the secret key", p.Name)
	}
	if strings.Contains(engineLog(t, p.e.d), secret) {
		t.Errorf("the engine's log (with the plugin's output) holds the secret key")
	}
}
