package e2e

import (
	"strings"
	"testing"

	"github.com/s3vol/s3vol/internal/dockertest"
)

// The authorization plugin is served on the volume driver's own socket: a
// dockerd started with --authorization-plugin=<driver> refuses containers
// that mount an s3vol volume over a system folder, and allows the rest.
func TestAuthzOnTheDriverSocket(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	// The plugin must be up before this dockerd starts: dockerd checks its
	// authorization plugins at start-up.
	d := dockertest.PrivateWith(t, "--authorization-plugin="+h.Driver)
	t.Cleanup(func() { cleanupDriver(t, d, h.Driver) })
	de := &env{d: d, srv: e.srv, bucket: e.bucket}

	d.Must(t, "volume", "create", "-d", h.Driver, "guarded")
	if out := de.sh(t, "echo allowed > /data/f; cat /data/f", "-v", "guarded:/data"); out != "allowed" {
		t.Fatalf("allowed container printed %q", out)
	}
	_, stderr, err := de.shErr(t, "true", "-v", "guarded:/etc")
	if err == nil {
		t.Fatal("a container mounting an s3vol volume over /etc was created")
	}
	t.Logf("refusal: %s", stderr)
	if !strings.Contains(stderr, "authorization denied by plugin "+h.Driver) || !strings.Contains(stderr, "/etc") {
		t.Fatalf("refusal %q does not come from the s3vol plugin or does not name /etc", stderr)
	}
	// Other drivers' volumes are not s3vol's business.
	d.Must(t, "volume", "create", "plain-local")
	t.Cleanup(func() { d.Run(t, "volume", "rm", "-f", "plain-local") })
	de.sh(t, "true", "-v", "plain-local:/etc/extra")
}
