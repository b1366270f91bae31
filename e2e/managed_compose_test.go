package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3vol/s3vol/internal/dockertest"
	"github.com/s3vol/s3vol/internal/testenv"
)

// Issue 19.11: with the managed plugin, a compose file keeps working after
// the first `up`: docker-compose (v1) compares, at every later up and run,
// the driver the file names with the one dockerd records for the volume,
// which for a managed plugin is its full name, NAME:latest.
func TestManagedCompose(t *testing.T) {
	testenv.NeedFUSE(t)
	testenv.NeedCommand(t, "make", "make")
	left := &leftovers{}
	t.Cleanup(left.reap) // after the engine's clean-up
	e := &env{d: dockertest.Private(t)}
	p := e.buildManagedPlugin(t, left)
	p.enable(t) // the built-in local store

	driver := strings.Replace(readmeManagedComposeDriver(t), "s3vol", p.Name, 1)
	dir := composeProject(t, e.d, "managedcompose", driver)
	for _, up := range []string{"first", "second"} {
		if _, stderr, err := e.d.Compose(t, dir, "up"); err != nil {
			t.Fatalf("the %s docker-compose up with driver: %s failed: %v\n%s", up, driver, err, stderr)
		}
	}
	e.d.MustCompose(t, dir, "run", "--rm", "writer")
	if out := e.d.MustCompose(t, dir, "run", "--rm", "writer", "cat", "/shared/log"); out != "up\nup\nup" {
		t.Fatalf("the volume's log holds %q, want a line from each up and run", out)
	}
	if drv := e.d.Must(t, "volume", "inspect", "--format", "{{.Driver}}", "managedcompose_shared"); drv != driver {
		t.Errorf("dockerd records the driver %q, the README's compose line says %q", drv, driver)
	}
	e.d.MustCompose(t, dir, "down", "-v")

	// The short name, as the README explains, works once only.
	short := composeProject(t, e.d, "shortname", p.Name)
	e.d.MustCompose(t, short, "up")
	_, stderr, err := e.d.Compose(t, short, "up")
	if want := "uses a different driver (" + p.Name + ":latest)"; err == nil || !strings.Contains(stderr, want) {
		t.Errorf("the second up with driver: %s: err %v, stderr %q; the README says it fails with %q", p.Name, err, stderr, want)
	}
}

// composeProject writes, in a folder of its own, compose project project:
// a service that appends a line to the log in volume shared, of driver.
func composeProject(t *testing.T, d *dockertest.Docker, project, driver string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), project)
	compose := `version: "2.4"
services:
  writer:
    image: ` + d.Image + `
    network_mode: none
    command: ["sh", "-c", "echo up >> /shared/log"]
    volumes: [shared:/shared]
volumes:
  shared:
    driver: ` + driver + `
    driver_opts:
      mode: "0777"
`
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Compose(t, dir, "down", "-v") })
	return dir
}

// readmeManagedComposeDriver is the driver name the README's managed-plugin
// section tells compose files to use: `driver: NAME` in the section, or
// the `driver: s3vol` it promises works as it is.
func readmeManagedComposeDriver(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(text), "\n## The managed plugin\n")
	section, _, _ = strings.Cut(section, "\n## ")
	for _, line := range strings.Split(section, "\n") {
		if _, name, ok := strings.Cut(line, "driver: "); ok {
			return strings.Trim(strings.Fields(name)[0], "`")
		}
	}
	t.Fatal("the README's managed-plugin section names no compose driver")
	return ""
}
