package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/s3vol/s3vol/internal/testenv"
)

// The dashboard in a real browser (Debian's chromium, headless, driven by
// chromedp) against a daemon serving dockerd: the page lists the volumes
// with their measured size; the create form is refused before logging in
// with the token, and after it makes a volume docker volume ls shows;
// deleting a volume a container has mounted shows the registry's in-use
// message. Each page is saved as a screenshot in the test's artifact
// folder (go test -artifacts keeps them).
func TestDashboardInABrowser(t *testing.T) {
	testenv.NeedCommand(t, "chromium", "chromium")
	e := newEnv(t)
	const token = "e2e-dashboard-token"
	addr := freeAddr(t)
	h := e.startHost(t, "host-a", "S3VOL_HTTP_ADDR="+addr, "S3VOL_HTTP_TOKEN="+token, "S3VOL_USAGE_INTERVAL=1s")
	base := "http://" + addr
	eventually(t, 30*time.Second, "/healthz to answer 200", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// A volume with three files of known sizes: 1000 + 2000 + 3000 bytes.
	e.d.Must(t, "volume", "create", "-d", h.Driver, "seeded")
	e.d.Must(t, "run", "--rm", "--network", "none", "-v", "seeded:/data", e.d.Image, "sh", "-c",
		"head -c 1000 /dev/zero > /data/a && head -c 2000 /dev/zero > /data/b && head -c 3000 /dev/zero > /data/c")

	b := newBrowser(t)
	shots := t.ArtifactDir()
	shot := func(name string) {
		t.Helper()
		png := run(t, b, chromedp.FullScreenshot(100)) // quality 100: a PNG (below: a JPEG)
		path := filepath.Join(shots, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	text := func(sel string) string { return b.text(t, sel) }

	// The list shows the volume with its measured size and object count.
	row := `tr[data-name="seeded"]`
	eventually(t, time.Minute, "the dashboard to show seeded's size (5.9 KiB in 3 objects)", func() bool {
		do(t, b, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(row)))
		return text(row+" td.size") == "5.9 KiB" && text(row+" td.objects") == "3"
	})
	if usage := text("#usage"); !strings.Contains(usage, "1 of 100 volumes used") {
		t.Errorf("usage line %q, want 1 of 100 volumes used", usage)
	}
	// docker volume inspect shows the same measurement, with its time.
	st := status(t, e.d, "seeded")
	if st["sizeBytes"] != float64(6000) || st["objects"] != float64(3) || st["sizeMeasuredAt"] == nil ||
		!strings.HasPrefix(fmt.Sprint(st["size"]), "5.9 KiB in 3 objects (measured ") {
		t.Errorf("docker volume inspect's Status shows size %v, %v bytes, %v objects, measured %v; want 6000 bytes in 3 objects with the time",
			st["size"], st["sizeBytes"], st["objects"], st["sizeMeasuredAt"])
	}
	shot("list.png")

	// Without the token, the form is refused and nothing is created.
	do(t, b, chromedp.SendKeys(chromedp.CSS(`#create input[name="name"]`), "nologin"), chromedp.Submit(chromedp.CSS(`#create`)),
		chromedp.WaitVisible(chromedp.CSS(`#problem`)))
	if problem := text("#problem"); !strings.Contains(problem, "changes need the dashboard token") {
		t.Errorf("create without the token showed %q, want a refusal asking for the token", problem)
	}
	shot("refused-without-token.png")
	if contains(volumeNames(t, e.d, h.Driver), "nologin") {
		t.Fatal("a create without the token made a volume")
	}

	// Logged in, the form creates a volume Docker sees.
	// (The pages reload themselves every few seconds, dropping their
	// notices, so what is checked is what stays: the header's mode, the
	// new row.)
	do(t, b, chromedp.Navigate(base+"/login"), chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), token),
		chromedp.Submit(chromedp.CSS(`#loginform`)), chromedp.WaitVisible(chromedp.CSS(`#mode`)))
	if mode := text("#mode"); mode != "logged in" {
		t.Fatalf("after logging in the header says %q", mode)
	}
	do(t, b, chromedp.SendKeys(chromedp.CSS(`#create input[name="name"]`), "fromform"), chromedp.Submit(chromedp.CSS(`#create`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-name="fromform"]`)))
	if names := volumeNames(t, e.d, h.Driver); !contains(names, "fromform") {
		t.Fatalf("docker volume ls shows %q, without the volume created through the form", names)
	}
	// A view too, which the list then shows beside its volume.
	do(t, b, chromedp.SendKeys(chromedp.CSS(`#create input[name="name"]`), "seeded-team"),
		chromedp.SendKeys(chromedp.CSS(`#create input[name="volume"]`), "seeded"),
		chromedp.SendKeys(chromedp.CSS(`#create input[name="subpath"]`), "team"),
		chromedp.Submit(chromedp.CSS(`#create`)), chromedp.WaitVisible(chromedp.CSS(`tr[data-name="seeded-team"]`)))
	if views := text(row + " td:nth-child(9)"); views != "seeded-team" {
		t.Errorf("seeded's views column shows %q, want seeded-team", views)
	}

	// Deleting a volume a container has mounted shows the in-use message.
	e.d.Must(t, "run", "-d", "--init", "--rm", "--name", "dash-holder", "--network", "none", "-v", "seeded:/data", e.d.Image, "sleep", "600")
	t.Cleanup(func() { e.d.Run(t, "rm", "-f", "dash-holder") })
	do(t, b, chromedp.Navigate(base+"/volumes/seeded"), chromedp.WaitVisible(chromedp.CSS(`#mounted`)))
	shot("volume.png")
	do(t, b, chromedp.Click(chromedp.CSS(`button[name="delete"]`)), chromedp.WaitVisible(chromedp.CSS(`#problem`)))
	if problem := text("#problem"); !strings.Contains(problem, "in use") {
		t.Errorf("deleting a mounted volume showed %q, want the in-use message", problem)
	}
	shot("delete-in-use.png")
	eventually(t, time.Minute, "every volume and view to be measured", func() bool {
		do(t, b, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(row)))
		return text(`tr[data-name="fromform"] td.size`) == "0 B" && text(`tr[data-name="seeded-team"] td.size`) == "0 B"
	})
	shot("dashboard.png") // the README's picture: docs/dashboard.png
	if !contains(volumeNames(t, e.d, h.Driver), "seeded") {
		t.Fatal("the mounted volume was deleted")
	}
}

// freeAddr returns a loopback host:port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// browser is a headless chromium for one test.
type browser struct{ ctx context.Context }

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests run as root, which chromium's sandbox refuses
		chromedp.WindowSize(1400, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, under the context it is given:
	// it must not be a step's (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

// browserStep bounds one batch of browser actions.
const browserStep = time.Minute

// do runs steps in the browser's tab.
func do(t *testing.T, b *browser, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// text reads the text of the element sel selects, trying again when the
// page reloads itself between finding the element and reading it.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	deadline := time.Now().Add(browserStep)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, browserStep)
		v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil {
			return strings.TrimSpace(v)
		}
		if time.Now().After(deadline) {
			t.Fatalf("browser: reading %s: %v", sel, err)
		}
	}
}

// run runs one action that returns a value.
func run[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}
