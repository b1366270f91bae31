package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/dockertest"
)

// Done-when 6: two plugin daemons ("hosts": two engines, two sockets, two
// mount roots) on one store. A volume created through one is listed by the
// other; a file written through one is read through the other; a volume
// mounted on one cannot be deleted through the other.
func TestTwoHosts(t *testing.T) {
	e := newEnv(t)
	a := e.startHost(t, "host-a")
	b := e.startHost(t, "host-b")
	da := e.d                   // host A's engine
	db := dockertest.Private(t) // host B's engine
	eb := &env{d: db, srv: e.srv, bucket: e.bucket}
	t.Cleanup(func() { cleanupDriver(t, db, b.Driver) })

	da.Must(t, "volume", "create", "-d", a.Driver, "global")
	eventually(t, 15*time.Second, "host B does not list the volume created on host A", func() bool {
		return contains(volumeNames(t, db, b.Driver), "global")
	})
	// Every dockerd on a machine discovers every legacy plugin socket, so
	// engine B must be told which driver owns the volume (on a real second
	// host only plugin B exists). Creating an existing volume is idempotent.
	db.Must(t, "volume", "create", "-d", b.Driver, "global")
	if drv := db.Must(t, "volume", "inspect", "--format", "{{.Driver}}", "global"); drv != b.Driver {
		t.Fatalf("engine B resolves the volume to driver %s, want %s", drv, b.Driver)
	}
	if sa, sb := status(t, da, "global"), status(t, db, "global"); sa["id"] != sb["id"] {
		t.Fatalf("the hosts disagree on the volume's id: %v vs %v", sa["id"], sb["id"])
	}

	e.sh(t, "echo written-on-a > /data/from-a", "-v", "global:/data")
	if out := eb.sh(t, "cat /data/from-a; echo written-on-b > /data/from-b", "-v", "global:/data"); out != "written-on-a" {
		t.Fatalf("host B read %q", out)
	}
	// Host A may still have the volume mounted (grace period) with a
	// listing cached for up to the metadata TTL (1 s): another host's
	// change shows within it.
	eventually(t, 10*time.Second, "host A never saw host B's file", func() bool {
		out, _, err := e.shErr(t, "cat /data/from-b", "-v", "global:/data")
		return err == nil && strings.TrimSpace(out) == "written-on-b"
	})

	// While host A has it mounted, host B cannot delete it, and the message
	// names host A.
	holder := "holder-" + a.Driver
	da.Must(t, "run", "-d", "--init", "--name", holder, "--network", "none", "-v", "global:/data", da.Image, "sleep", "600")
	t.Cleanup(func() { da.Run(t, "rm", "-f", holder) })
	_, stderr, err := db.Run(t, "volume", "rm", "global")
	if err == nil {
		t.Fatal("host B deleted a volume mounted on host A")
	}
	t.Logf("host B's refusal: %s", stderr)
	if !strings.Contains(stderr, "host-a") || !strings.Contains(stderr, "in use") {
		t.Fatalf("host B's refusal %q does not say the volume is in use on host-a", stderr)
	}
	if s := status(t, db, "global"); s["state"] != "ready" {
		t.Fatalf("after the refused delete the volume is %v", s["state"])
	}
	// Once host A lets go (container gone, grace over), host B may delete.
	// Host A tears down after its grace period, releasing the lease last.
	da.Must(t, "rm", "-f", holder)
	eventually(t, 15*time.Second, "host B still cannot delete the volume host A let go of", func() bool {
		_, _, err := db.Run(t, "volume", "rm", "global")
		return err == nil
	})
	if a.mounted() {
		t.Fatal("host A still has the deleted volume mounted")
	}
	eventually(t, 15*time.Second, "host A still lists the volume host B deleted", func() bool {
		_, body, err := a.call("/VolumeDriver.Get", `{"Name":"global"}`)
		return err == nil && strings.Contains(body, "no such volume")
	})
}

// cleanupDriver removes every container and volume of driver on engine d,
// so that d never calls a plugin that is gone.
func cleanupDriver(t *testing.T, d *dockertest.Docker, driver string) {
	vols, _, _ := d.Run(t, "volume", "ls", "-q", "--filter", "driver="+driver)
	for _, v := range strings.Fields(vols) {
		ids, _, _ := d.Run(t, "ps", "-aq", "--filter", "volume="+v)
		if ids := strings.Fields(ids); len(ids) > 0 {
			d.Run(t, append([]string{"rm", "-f"}, ids...)...)
		}
		d.Run(t, "volume", "rm", "-f", v)
	}
}
