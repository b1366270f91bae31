package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/dockertest"
)

// authzEngine is a private engine whose daemon.json the test owns, so that
// it can name the managed plugin as an authorization plugin once the plugin
// is enabled: dockerd refuses to start with an authorization plugin it
// cannot find, so the plugin can only be added by a configuration reload.
type authzEngine struct {
	*dockertest.Docker
	config string // the daemon.json given with --config-file
}

func privateAuthzEngine(t *testing.T) *authzEngine {
	t.Helper()
	config := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A second --config-file overrides the harness's empty one.
	return &authzEngine{Docker: dockertest.PrivateWith(t, "--config-file", config), config: config}
}

// useAuthz writes plugins as the engine's authorization plugins and makes
// dockerd reload its configuration.
func (a *authzEngine) useAuthz(t *testing.T, plugins ...string) {
	t.Helper()
	b, err := json.Marshal(map[string][]string{"authorization-plugins": plugins})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.config, b, 0o644); err != nil {
		t.Fatal(err)
	}
	a.Reload(t)
}

// checkMountPathRefused waits until the engine refuses a container that
// mounts vol under /etc, with the plugin's reason (dockerd reloads its
// configuration asynchronously).
func (p *managedPlugin) checkMountPathRefused(t *testing.T, vol string) {
	t.Helper()
	var stderr string
	eventually(t, 15*time.Second, "the engine still accepts an s3vol volume under /etc", func() bool {
		var err error
		var id string
		id, stderr, err = p.e.d.Run(t, "create", "--network", "none", "-v", vol+":/etc/x", p.e.d.Image, "true")
		if err == nil {
			p.e.d.Run(t, "rm", strings.TrimSpace(id))
			return false
		}
		return true
	})
	if !strings.Contains(stderr, "authorization denied by plugin "+p.Driver) || !strings.Contains(stderr, "/etc") {
		t.Fatalf("the refusal says %q; want the authorization plugin %s naming /etc", stderr, p.Driver)
	}
}
