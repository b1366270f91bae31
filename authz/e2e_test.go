package authz

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/s3vol/s3vol/internal/dockertest"
	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/mountpath"
)

// The engines and the plugin run in a mount namespace of the test
// binary's own (dockertest.Main), so the plugin socket never reaches the
// host's Docker.
func TestMain(m *testing.M) { os.Exit(dockertest.Main(m)) }

// legacyPluginDir is where dockerd discovers legacy plugins' sockets; the
// path is fixed, so the test's plugin name carries the pid to stay apart
// from other engines of the test binary.
const legacyPluginDir = dockertest.LegacyPluginDir

// TestDockerEndToEnd runs a real dockerd with the plugin enabled
// (--authorization-plugin) against one socket serving both a volume driver
// and the plugin under the same name, then restarts it without the plugin.
func TestDockerEndToEnd(t *testing.T) {
	testenv.NeedRoot(t) // for the legacy plugin folder; PrivateWith checks the rest

	name := fmt.Sprintf("s3vol-authz-test-%d", os.Getpid())
	dir := t.TempDir()
	driver := newFolderDriver(filepath.Join(dir, "volumes"))
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	if err := os.MkdirAll(legacyPluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	serveCombined(t, filepath.Join(legacyPluginDir, name+".sock"), New(driver.Has, log, WithDriverName(name)), driver)

	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range hook.AllEntries() {
				t.Logf("plugin log: %s %s %v", e.Level, e.Message, e.Data)
			}
		}
	})
	d := dockertest.PrivateWith(t, "--authorization-plugin="+name)

	d.Must(t, "volume", "create", "--driver", name, "myvol")
	d.Must(t, "volume", "create", "localvol")
	if !driver.Has("myvol") || driver.Has("localvol") {
		t.Fatalf("the driver's registry is wrong: myvol=%v localvol=%v", driver.Has("myvol"), driver.Has("localvol"))
	}

	t.Run("enabled", func(t *testing.T) { checkEnabled(t, d, name, driver) })
	t.Run("hidden bodies", func(t *testing.T) { checkHiddenBodies(t, d, name, driver) })
	t.Run("streams", func(t *testing.T) { checkStreams(t, d) })
	t.Run("legacy start", func(t *testing.T) { checkLegacyStart(t, d, name) })
	if t.Failed() {
		return
	}
	// Without --authorization-plugin the same engine, data and driver
	// behave as if the plugin did not exist.
	d.Restart(t)
	hook.Reset()
	t.Run("disabled", func(t *testing.T) { checkDisabled(t, d, name, driver) })
	if n := len(hook.AllEntries()); n != 0 {
		t.Errorf("the plugin logged %d entries while dockerd ran without it", n)
	}
}

func checkEnabled(t *testing.T, d *dockertest.Docker, name string, driver *folderDriver) {
	run := []string{"run", "--rm", "--network", "none"}
	denied := func(msg string, args ...string) {
		t.Helper()
		_, stderr, err := d.Run(t, args...)
		want := "authorization denied by plugin " + name + ": " + msg
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("docker %s: err=%v, stderr %q; want a refusal containing %q", strings.Join(args, " "), err, stderr, want)
		}
	}

	denied(`s3vol volume "myvol": `+mountpath.Check("/proc/x").Error(),
		append(run, "-v", "myvol:/proc/x", d.Image, "true")...)
	denied(`s3vol volume "myvol": `+mountpath.Check("/etc").Error(),
		append(run, "--mount", "type=volume,src=myvol,dst=/etc", d.Image, "true")...)
	denied(`s3vol volume "fresh": `+mountpath.Check("/data/../sys").Error(),
		append(run, "--volume-driver", name, "-v", "fresh:/data/../sys", d.Image, "true")...)
	denied(`anonymous s3vol volume: `+mountpath.Check("//dev").Error(),
		append(run, "--mount", "type=volume,dst=//dev,volume-driver="+name, d.Image, "true")...)
	if driver.Has("fresh") {
		t.Error("a refused create still made the volume \"fresh\"")
	}

	// An s3vol volume at a sane path works, and really is the driver's.
	d.Must(t, append(run, "-v", "myvol:/home/app/data", d.Image, "sh", "-c", "echo kept > /home/app/data/f")...)
	if b, err := os.ReadFile(filepath.Join(driver.dir("myvol"), "f")); err != nil || string(b) != "kept\n" {
		t.Errorf("the container's file in the driver's folder: %q, %v", b, err)
	}
	// Other drivers' volumes and bind mounts pass untouched.
	d.Must(t, append(run, "-v", "localvol:/etc/foo", d.Image, "true")...)
	d.Must(t, append(run, "--mount", "type=volume,src=localvol,dst=/etc/foo", d.Image, "true")...)
	d.Must(t, append(run, "-v", t.TempDir()+":/etc/foo", d.Image, "true")...)

	// Compose creates the volume with the s3vol driver, then the container;
	// the short volume syntax becomes Binds, the long one Mounts.
	for _, c := range []struct{ entry, target string }{
		{"data:/proc/x", "/proc/x"},
		{"{type: volume, source: data, target: /etc}", "/etc"},
	} {
		project := composeProject(t, name, c.entry)
		_, stderr, err := d.Compose(t, project, "-p", "bad", "up", "--no-start")
		d.Compose(t, project, "-p", "bad", "down", "-v")
		want := "authorization denied by plugin " + name + `: s3vol volume "bad_data": ` + mountpath.Check(c.target).Error()
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("docker-compose up with %s: err=%v, stderr %q; want %q", c.entry, err, stderr, want)
		}
	}
	if driver.Has("bad_data") {
		t.Error("compose down -v left the volume bad_data in the driver")
	}
}

// checkLegacyStart sends what only old clients send: a start request of
// API 1.23 carrying the container's HostConfig, binds included.
func checkLegacyStart(t *testing.T, d *dockertest.Docker, name string) {
	api := newPluginClient(d.Socket()) // a plain HTTP client over a unix socket
	start := func(binds string) (int, string) {
		id := d.Must(t, "create", "--network", "none", d.Image, "true")
		t.Cleanup(func() { d.Run(t, "rm", "-f", id) })
		res, err := api.c.Post("http://docker/v1.23/containers/"+id+"/start", "application/json",
			strings.NewReader(`{"NetworkMode": "none", "Binds": [`+binds+`]}`))
		if err != nil {
			t.Fatalf("starting %s with API 1.23: %v", id, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	status, body := start(`"myvol:/etc/app"`)
	// API 1.23 errors are plain text, not JSON.
	want := "authorization denied by plugin " + name + `: s3vol volume "myvol": ` + mountpath.Check("/etc/app").Error()
	if status != http.StatusForbidden || !strings.Contains(body, want) {
		t.Errorf("API 1.23 start with myvol:/etc/app: %d %s; want 403 containing %s", status, body, want)
	}
	if status, body := start(`"myvol:/srv/app"`); status != http.StatusNoContent {
		t.Errorf("API 1.23 start with myvol:/srv/app: %d %s; want 204", status, body)
	}
}

func checkDisabled(t *testing.T, d *dockertest.Docker, name string, driver *folderDriver) {
	// /proc/x is only created (runc refuses mounts inside /proc at start);
	// what matters is that dockerd accepts the request.
	id := d.Must(t, "create", "--network", "none", "-v", "myvol:/proc/x", d.Image, "true")
	d.Must(t, "rm", "-f", id)
	d.Must(t, "run", "--rm", "--network", "none", "--mount", "type=volume,src=myvol,dst=/etc", d.Image, "true")
	d.Must(t, "run", "--rm", "--network", "none", "-v", "myvol:/home/app/data", d.Image, "cat", "/home/app/data/f")
	d.Must(t, "run", "--rm", "--network", "none", "-v", "localvol:/etc/foo", d.Image, "true")

	for _, entry := range []string{"data:/proc/x", "{type: volume, source: data, target: /etc}"} {
		project := composeProject(t, name, entry)
		d.MustCompose(t, project, "-p", "bad", "up", "--no-start")
		d.MustCompose(t, project, "-p", "bad", "down", "-v")
	}
}

// composeProject writes a compose file whose service mounts the volume
// "data", of the test's driver, as the given compose volume entry, and
// returns its folder.
func composeProject(t *testing.T, driver, entry string) string {
	t.Helper()
	dir := t.TempDir()
	compose := `version: "2.4"
services:
  app:
    image: ` + dockertest.ImageName + `
    network_mode: none
    command: ["true"]
    volumes:
      - ` + entry + `
volumes:
  data:
    driver: ` + driver + `
`
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkHiddenBodies sends container creates the way a client bypassing the
// CLI can: padded past 1 MiB, whose body dockerd does not pass on, and
// chunked, which engines without the CVE-2024-41110 fix do not pass on.
// Both are refused, with a message saying why.
func checkHiddenBodies(t *testing.T, d *dockertest.Docker, name string, driver *folderDriver) {
	api := newPluginClient(d.Socket())
	create := func(body io.Reader, size int64) (int, string) {
		req, err := http.NewRequest("POST", "http://docker/v1.41/containers/create", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = size // -1: chunked
		res, err := api.c.Do(req)
		if err != nil {
			t.Fatalf("container create: %v", err)
		}
		defer res.Body.Close()
		var answer struct{ ID, Message string }
		if err := json.NewDecoder(res.Body).Decode(&answer); err != nil {
			t.Fatalf("container create: status %d, unreadable answer: %v", res.StatusCode, err)
		}
		if answer.ID != "" {
			d.Run(t, "rm", "-f", answer.ID)
		}
		return res.StatusCode, answer.Message
	}
	body := func(env string) string {
		return `{"Image": "` + d.Image + `", "Cmd": ["true"], "Env": ["PAD=` + env + `"],
			"HostConfig": {"NetworkMode": "none", "Binds": ["myvol:/etc"]}}`
	}

	padded := body(strings.Repeat("x", 1<<20))
	status, msg := create(strings.NewReader(padded), int64(len(padded)))
	want := "authorization denied by plugin " + name + ": s3vol cannot check the volume mounts of this container create: dockerd did not pass on the body"
	if status != http.StatusForbidden || !strings.Contains(msg, want) {
		t.Errorf("create padded to %d bytes with myvol at /etc: %d %s; want 403 with %q", len(padded), status, msg, want)
	}

	// A chunked create: this engine either passes the body on (checked by
	// the mount-path rule) or does not (refused as unchecked).
	status, msg = create(io.MultiReader(strings.NewReader(body("small"))), -1)
	checked := strings.Contains(msg, `s3vol volume "myvol": `+mountpath.Check("/etc").Error())
	unchecked := strings.Contains(msg, "did not pass on the body")
	if status != http.StatusForbidden || !(checked || unchecked) {
		t.Errorf("chunked create with myvol at /etc: %d %s; want 403 from the plugin", status, msg)
	}
	t.Logf("chunked create: body passed on to the plugin: %v", checked)

	// The same padding on a create without s3vol volumes is refused too:
	// the plugin cannot tell. A small create passes.
	padded = strings.Replace(padded, `"Binds": ["myvol:/etc"]`, `"Binds": []`, 1)
	if status, msg := create(strings.NewReader(padded), int64(len(padded))); status != http.StatusForbidden {
		t.Errorf("padded create without volumes: %d %s; want 403", status, msg)
	}
	small := strings.Replace(body("small"), `"Binds": ["myvol:/etc"]`, `"Binds": ["myvol:/srv"]`, 1)
	if status, msg := create(strings.NewReader(small), int64(len(small))); status != http.StatusCreated {
		t.Errorf("small create with myvol at /srv: %d %s; want 201", status, msg)
	}
}

// checkStreams runs, under the plugin, the calls whose bodies are streams
// the plugin never sees: they must pass. docker run -i attaches stdin,
// docker cp uploads a tar, docker load takes an image tar.
func checkStreams(t *testing.T, d *dockertest.Docker) {
	in := strings.Repeat("stream line\n", 1000)
	out, stderr, err := d.RunInput(t, []byte(in), "run", "-i", "--rm", "--network", "none", d.Image, "cat")
	if err != nil || out != in {
		t.Errorf("docker run -i: %v, %d bytes back of %d\n%s", err, len(out), len(in), stderr)
	}

	id := d.Must(t, "create", "--network", "none", d.Image, "cat", "/copied")
	t.Cleanup(func() { d.Run(t, "rm", "-f", id) })
	src := filepath.Join(t.TempDir(), "copied")
	if err := os.WriteFile(src, []byte("copied in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Must(t, "cp", src, id+":/copied")
	if out := d.Must(t, "start", "-a", id); out != "copied in" {
		t.Errorf("the copied file reads %q", out)
	}

	image := filepath.Join(t.TempDir(), "image.tar")
	d.Must(t, "save", "-o", image, d.Image)
	d.Must(t, "load", "-i", image)
}
