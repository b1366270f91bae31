package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// admin runs `s3vol <args>` against the host's store and organization.
func (h *host) admin(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = h.env
	out, err := cmd.CombinedOutput()
	t.Logf("$ s3vol %s\n%s", strings.Join(args, " "), out)
	return string(out), err
}

// Done-when 3: with the limit set to 5, the 6th docker volume create fails
// and the docker CLI prints the registry's message.
func TestVolumeLimit(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	if out, err := h.admin(t, "org", "set-limit", "5"); err != nil {
		t.Fatalf("s3vol org set-limit 5: %v\n%s", err, out)
	}
	for i := 1; i <= 5; i++ {
		e.d.Must(t, "volume", "create", "-d", h.Driver, fmt.Sprintf("lim%d", i))
	}
	_, stderr, err := e.d.Run(t, "volume", "create", "-d", h.Driver, "lim6")
	if err == nil {
		t.Fatal("the 6th volume was created past the limit of 5")
	}
	want := `organization "default" has reached its limit of 5 volumes`
	if !strings.Contains(stderr, want) {
		t.Fatalf("docker printed %q, want the registry's message containing %q", stderr, want)
	}
	// Views are not volumes: still allowed.
	e.d.Must(t, "volume", "create", "-d", h.Driver, "-o", "volume=lim1", "-o", "subpath=team", "lim1-team")
	// Deleting one frees its slot at once.
	e.d.Must(t, "volume", "rm", "lim5")
	e.d.Must(t, "volume", "create", "-d", h.Driver, "lim6")
	if s := status(t, e.d, "lim6"); s["usage"] != "5/5 volumes" {
		t.Errorf("usage = %v, want 5/5 volumes", s["usage"])
	}
}
