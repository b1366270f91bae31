package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/dockertest"
)

// makeTimeout bounds one make run; `make plugin` compiles the daemon, which
// takes minutes on a cold build cache and a busy machine.
const makeTimeout = 5 * time.Minute

// managedPlugin is s3vol installed as a managed plugin on a private engine,
// built by `make plugin` from the repository, with its state and secrets
// mounts on folders of the test's own.
type managedPlugin struct {
	e          *env
	left       *leftovers
	Name       string // the plugin's name; dockerd calls the driver Name+":latest"
	Driver     string
	ID         string
	dir        string // make's outputs: the binary and the plugin folder
	stateDir   string // the state mount's source
	secretsDir string // the secrets mount's source
}

// leftovers removes, after the private engine has stopped, the folders
// that dockerd 20.10 leaves under /run/docker/plugins (a path it uses
// whatever its --exec-root) for managed plugins whose enable failed; the
// containerd shim such a plugin also leaves is killed by dockertest's
// engine stop. Register reap with t.Cleanup before starting the engine, so
// that it runs after the engine's own clean-up.
type leftovers struct {
	pluginIDs []string // every plugin the test created
}

func (l *leftovers) reap() {
	for _, id := range l.pluginIDs {
		os.RemoveAll(filepath.Join(dockertest.LegacyPluginDir, id))
	}
}

// buildManagedPlugin runs `make plugin` against the env's engine. When the
// test ends it removes the plugin's containers and volumes, disables and
// removes the plugin and checks that none of its mounts is left.
func (e *env) buildManagedPlugin(t *testing.T, left *leftovers) *managedPlugin {
	t.Helper()
	return e.buildManagedPluginNamed(t, left, fmt.Sprintf("s3vol-managed-%d", os.Getpid()))
}

// buildManagedPluginNamed is buildManagedPlugin with the plugin's name.
func (e *env) buildManagedPluginNamed(t *testing.T, left *leftovers, name string) *managedPlugin {
	t.Helper()
	p := &managedPlugin{e: e, left: left, Name: name, Driver: name + ":latest",
		dir: t.TempDir(), stateDir: t.TempDir(), secretsDir: t.TempDir()}
	t.Cleanup(func() { p.cleanup(t) })
	p.build(t)
	return p
}

// build runs `make plugin`, which replaces a disabled plugin of the name.
func (p *managedPlugin) build(t *testing.T) {
	t.Helper()
	if out, err := p.makeErr(t, "plugin", p.buildVars()...); err != nil {
		t.Fatalf("make plugin: %v\n%s", err, out)
	}
	p.ID = p.e.d.Must(t, "plugin", "inspect", "--format", "{{.Id}}", p.Name)
	p.left.pluginIDs = append(p.left.pluginIDs, p.ID)
}

// buildVars keep make's outputs out of the repository.
func (p *managedPlugin) buildVars() []string {
	return []string{"BIN=" + filepath.Join(p.dir, "s3vol"), "PLUGIN_DIR=" + filepath.Join(p.dir, "plugin")}
}

// makeErr runs a Makefile target of the repository with PLUGIN_NAME set and
// DOCKER_HOST at the env's engine, and returns its output. Its environment
// holds no S3VOL_* variable and no outer make's flags, so only the test's
// own settings reach `docker plugin set`.
func (p *managedPlugin) makeErr(t *testing.T, target string, vars ...string) (string, error) {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), makeTimeout)
	defer cancel()
	args := append([]string{"--no-print-directory", "-C", root, target, "PLUGIN_NAME=" + p.Name}, vars...)
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Env = makeEnv(p.e.d)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("$ make %s%s [%v]", strings.Join(args[3:], " "), outcomeOf(err), time.Since(start).Round(time.Millisecond))
	return string(out), err
}

func outcomeOf(err error) string {
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	return ""
}

// makeEnv is the engine's environment for commands (DOCKER_HOST set)
// without S3VOL_*, AWS/MinIO credentials or the flags of an outer make
// (`make test VAR=x` passes VAR=x to every sub-make through MAKEFLAGS).
func makeEnv(d *dockertest.Docker) []string {
	var out []string
	for _, kv := range d.Env() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "S3VOL_"), strings.HasPrefix(name, "AWS_"), strings.HasPrefix(name, "MINIO_"):
		case name == "MAKEFLAGS", name == "MFLAGS", name == "MAKELEVEL", name == "MAKEOVERRIDES":
		default:
			out = append(out, kv)
		}
	}
	return out
}

// writeCredentials puts the MinIO keys in the secrets folder, where the
// plugin reads them as /etc/s3vol/credentials.
func (p *managedPlugin) writeCredentials(t *testing.T) {
	t.Helper()
	body := fmt.Sprintf("# MinIO of the managed-plugin test\naccess_key = %s\nsecret_key = %s\n", p.e.srv.AccessKey, p.e.srv.SecretKey)
	if err := os.WriteFile(filepath.Join(p.secretsDir, "credentials"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// enable points the plugin's mounts at the test's folders, then runs `make
// plugin-enable` with settings (S3VOL_NAME=value).
func (p *managedPlugin) enable(t *testing.T, settings ...string) {
	t.Helper()
	p.e.d.Must(t, "plugin", "set", p.Name, "state.source="+p.stateDir, "secrets.source="+p.secretsDir)
	if out, err := p.makeErr(t, "plugin-enable", settings...); err != nil {
		t.Fatalf("make plugin-enable: %v\n%s", err, out)
	}
}

// disable stops the plugin with `docker plugin disable -f` (the engine
// refuses a plain disable while volumes refer to the plugin) and checks it
// stopped cleanly: it logged its shutdown and left no mount on the host.
func (p *managedPlugin) disable(t *testing.T) {
	t.Helper()
	before := strings.Count(p.pluginLog(t, -1), `msg="info: s3vol stopped"`)
	p.e.d.Must(t, "plugin", "disable", "-f", p.Name)
	if left := p.mounts(t); len(left) > 0 {
		t.Fatalf("the disabled plugin left mounts on the host: %v", left)
	}
	// dockerd copies the plugin's output to its log asynchronously.
	eventually(t, 10*time.Second, "plugin "+p.Name+" did not log a clean shutdown on disable", func() bool {
		return strings.Count(p.pluginLog(t, -1), `msg="info: s3vol stopped"`) == before+1
	})
}

// mounts lists the FUSE mounts of s3vol that the plugin made: they appear
// on the host under the engine's propagated-mount folder of the plugin.
func (p *managedPlugin) mounts(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(mustMountinfo(t), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.Contains(f[4], "/plugins/"+p.ID+"/") && strings.Contains(line, " - fuse.s3vol ") {
			out = append(out, f[4])
		}
	}
	return out
}

// engineLog is the private engine's log, which holds the plugin's output.
func engineLog(t *testing.T, d *dockertest.Docker) string {
	t.Helper()
	b, err := os.ReadFile(d.LogPath())
	if err != nil {
		t.Fatalf("reading the engine's log: %v", err)
	}
	return string(b)
}

// pluginLog is the last n (all if n < 0) of the plugin's lines in the
// engine's log (dockerd logs what a plugin prints with plugin=ID).
func (p *managedPlugin) pluginLog(t *testing.T, n int) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(engineLog(t, p.e.d), "\n") {
		if p.ID != "" && strings.Contains(l, "plugin="+p.ID) {
			lines = append(lines, l)
		}
	}
	if n >= 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cleanup removes the plugin's containers and volumes while it runs, then
// disables and removes it; a FUSE mount of the plugin left on the host
// after that fails the test (and is detached).
func (p *managedPlugin) cleanup(t *testing.T) {
	d := p.e.d
	if t.Failed() && p.ID != "" {
		t.Logf("plugin %s log, last lines:\n%s", p.Name, p.pluginLog(t, 80))
	}
	enabled, _, err := d.Run(t, "plugin", "inspect", "--format", "{{.Enabled}}", p.Name)
	if err != nil {
		return // make plugin failed before creating it
	}
	if strings.TrimSpace(enabled) == "true" {
		for _, v := range volumeNames(t, d, p.Driver) {
			if ids, _, _ := d.Run(t, "ps", "-aq", "--filter", "volume="+v); len(strings.Fields(ids)) > 0 {
				d.Run(t, append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
			}
			d.Run(t, "volume", "rm", "-f", v)
		}
		d.Run(t, "plugin", "disable", "-f", p.Name)
	}
	if _, stderr, err := d.Run(t, "plugin", "rm", "-f", p.Name); err != nil {
		t.Errorf("removing plugin %s: %v: %s", p.Name, err, stderr)
	}
	if left := p.mounts(t); len(left) > 0 {
		t.Errorf("plugin %s left mounts on the host after disable and rm: %v", p.Name, left)
		for _, m := range left {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
				t.Logf("detaching %s: %v", m, err)
			}
		}
	}
}
