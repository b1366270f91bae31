package e2e

import (
	"testing"

	"github.com/s3vol/s3vol/internal/dockertest"
	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/internal/testenv"
)

// Issue 19.5: switching from the legacy socket (make run) to the managed
// plugin of the same name, as the README says. dockerd keeps using the
// legacy plugin it has met by that name until it restarts (moby 20.10 never
// forgets a legacy volume driver), so -d NAME fails while NAME:latest
// works; and it keeps its records of the volumes it used through the legacy
// plugin under the driver NAME, which it then refuses to mount through
// NAME:latest ("provided volume driver does not match stored driver"),
// until it restarts while the plugin does not know them. After the README's
// steps -d NAME reaches the managed plugin and the legacy volume mounts.
func TestSwitchFromLegacyToManaged(t *testing.T) {
	testenv.NeedFUSE(t)
	testenv.NeedCommand(t, "make", "make")
	left := &leftovers{}
	t.Cleanup(left.reap) // after the engine's clean-up
	srv := miniotest.Shared(t)
	e := &env{d: dockertest.Private(t), srv: srv, bucket: srv.NewBucket(t)}
	h := e.startHost(t, "legacy")
	e.d.Must(t, "volume", "create", "-d", h.Driver, "before")
	e.sh(t, "echo from-legacy > /data/f", "-v", "before:/data")
	h.stop(t)

	p := e.buildManagedPluginNamed(t, left, h.Driver)
	p.writeCredentials(t)
	p.enable(t, "S3VOL_ENDPOINT="+srv.URL(), "S3VOL_REGION="+srv.Region, "S3VOL_BUCKET="+e.bucket, "S3VOL_HOST_ID=managed")

	_, stderr, err := e.d.Run(t, "volume", "create", "-d", h.Driver, "after")
	if err == nil {
		t.Fatalf("docker volume create -d %s reached the managed plugin before dockerd restarted; the README says it fails until then: update it", h.Driver)
	}
	t.Logf("before the restart, -d %s fails with: %s", h.Driver, stderr)
	e.d.Must(t, "volume", "create", "-d", p.Driver, "meanwhile")

	// The README's steps: a restart with the plugin on an organization
	// without volumes, so that dockerd also drops its records of the legacy
	// plugin's volumes, then back to the organization.
	p.disable(t)
	p.enable(t, "S3VOL_ORG=switch-over")
	e.d.Restart(t)
	p.disable(t)
	p.enable(t, "S3VOL_ORG=default")
	e.d.Must(t, "volume", "create", "-d", h.Driver, "after")
	if drv := e.d.Must(t, "volume", "inspect", "--format", "{{.Driver}}", "after"); drv != p.Driver {
		t.Errorf("after the restart, -d %s made a volume of driver %s, want the managed plugin %s", h.Driver, drv, p.Driver)
	}
	if out := e.sh(t, "cat /data/f", "-v", "before:/data"); out != "from-legacy" {
		t.Fatalf("the legacy plugin's volume reads %q through the managed plugin", out)
	}
}
