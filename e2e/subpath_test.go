package e2e

import (
	"strings"
	"testing"
)

// Done-when 2: views alice (users/alice) and bob (users/bob) of volume
// tenants. Each container sees only its folder as the root; nothing in it
// reaches the other's files; the whole volume mounted elsewhere sees both.
func TestSubpathIsolation(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	d := e.d
	d.Must(t, "volume", "create", "-d", h.Driver, "tenants")
	d.Must(t, "volume", "create", "-d", h.Driver, "-o", "volume=tenants", "-o", "subpath=users/alice", "alice")
	d.Must(t, "volume", "create", "-d", h.Driver, "-o", "volume=tenants", "-o", "subpath=users/bob", "bob")

	s := status(t, d, "alice")
	if s["kind"] != "view" || s["volume"] != "tenants" || s["subpath"] != "users/alice" {
		t.Fatalf("alice's status %v does not describe a view of tenants at users/alice", s)
	}
	// Views do not count toward the limit.
	if s["usage"] != "1/100 volumes" {
		t.Errorf("usage with one volume and two views = %v, want 1/100 volumes", s["usage"])
	}

	e.sh(t, "echo bob-secret > /data/secret-bob", "-v", "bob:/data")
	out := e.sh(t, `echo alice-data > /data/secret-alice
ls -a /data | grep -v '^\.\.\?$'
# Everything below must fail to reach bob's file.
for p in /data/../bob/secret-bob /data/../users/bob/secret-bob /users/bob/secret-bob /bob/secret-bob; do
  if cat "$p" 2>/dev/null; then echo "LEAK via $p"; fi
done
if cd /data/../bob 2>/dev/null; then echo "LEAK via cd"; fi
ln -s ../bob /data/up-bob
ln -s /users/bob /data/abs-bob
ln -s ../../../../../../users/bob /data/deep-bob
for l in up-bob abs-bob deep-bob; do
  if cat /data/$l/secret-bob 2>/dev/null; then echo "LEAK via symlink $l"; fi
  if ls /data/$l/ 2>/dev/null | grep -q secret-bob; then echo "LEAK via listing $l"; fi
done
ls /data/.. | grep -c secret || true
echo checked`, "-v", "alice:/data")
	if strings.Contains(out, "LEAK") || strings.Contains(out, "bob-secret") {
		t.Fatalf("alice's container reached bob's files:\n%s", out)
	}
	if want := "secret-alice\nchecked"; !strings.HasPrefix(out, "secret-alice\n") || !strings.HasSuffix(out, "0\nchecked") {
		t.Fatalf("alice's container printed:\n%s\nwant its own file alone first, then %q", out, want)
	}

	// bob's view is untouched and sees only its own file.
	if out := e.sh(t, "ls /data", "-v", "bob:/data"); out != "secret-bob" {
		t.Fatalf("bob's root lists %q, want only secret-bob", out)
	}
	// The whole volume sees both tenants' folders, and the symlinks alice
	// made as plain symlinks (resolved inside this container only).
	out = e.sh(t, "cat /all/users/alice/secret-alice /all/users/bob/secret-bob; readlink /all/users/alice/up-bob; ls /all/users",
		"-v", "tenants:/all:ro")
	if want := "alice-data\nbob-secret\n../bob\nalice\nbob"; out != want {
		t.Fatalf("the whole volume shows %q, want %q", out, want)
	}
	// Deleting the volume is refused while views point at it.
	_, stderr, err := d.Run(t, "volume", "rm", "tenants")
	if err == nil || !strings.Contains(stderr, "alice") || !strings.Contains(stderr, "bob") {
		t.Fatalf("rm of a volume with views: err %v, message %q; want a refusal naming the views", err, stderr)
	}
	// A view's removal removes only the view.
	d.Must(t, "volume", "rm", "alice")
	if out := e.sh(t, "cat /all/users/alice/secret-alice", "-v", "tenants:/all"); out != "alice-data" {
		t.Fatalf("after removing the view, its folder holds %q", out)
	}
}
