package dashboard

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/driver"
	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/store/localstore"
)

// server is the dashboard over a real driver and registry on a local
// store (creating and deleting mount nothing, so no FUSE is needed).
type server struct {
	*httptest.Server
	reg *registry.Registry
	drv *driver.Driver
}

func newServer(t *testing.T, token string) *server {
	t.Helper()
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	reg, err := registry.New(registry.Config{Meta: st, Data: st, Prefix: "meta/", Org: "acme", HostID: "h1", Logger: logrus.NewEntry(log)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	drv, err := driver.New(driver.Config{Registry: reg, Data: st, MountRoot: filepath.Join(dir, "mnt"), CacheDir: filepath.Join(dir, "cache"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	drv.Start()
	<-drv.Started()
	srv := httptest.NewServer(New(Config{Volumes: drv, Token: token, Host: "h1", Logger: log}))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		drv.Shutdown(ctx)
		reg.Close()
	})
	return &server{Server: srv, reg: reg, drv: drv}
}

// browser is an HTTP client with cookies, that does not follow redirects.
func (s *server) browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post sends a form the way a browser on the page would (same origin).
func post(t *testing.T, c *http.Client, u string, form url.Values, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]*)"`)

// formToken reads the form token from the page.
func formToken(t *testing.T, page string) string {
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf field in the page:\n%s", page)
	}
	return m[1]
}

func (s *server) exists(name string) bool {
	_, err := s.reg.Get(context.Background(), name)
	return err == nil
}

func TestWithoutATokenTheDashboardIsReadOnly(t *testing.T) {
	s := newServer(t, "")
	c := s.browser(t)
	code, page := get(t, c, s.URL+"/")
	if code != http.StatusOK || !strings.Contains(page, "read-only") || !strings.Contains(page, "<fieldset disabled>") {
		t.Fatalf("GET / = %d, want a read-only page with the form disabled:\n%s", code, page)
	}
	code, page = post(t, c, s.URL+"/volumes", url.Values{"name": {"x"}})
	if code != http.StatusForbidden || !strings.Contains(page, "S3VOL_HTTP_TOKEN") || s.exists("x") {
		t.Fatalf("create on a read-only dashboard = %d (exists: %v):\n%s", code, s.exists("x"), page)
	}
	if code, page = post(t, c, s.URL+"/login", url.Values{"token": {""}}); code != http.StatusForbidden {
		t.Fatalf("login on a read-only dashboard = %d:\n%s", code, page)
	}
}

func TestChangesNeedTheTokenAndTheFormToken(t *testing.T) {
	const token = "s3cret-token"
	s := newServer(t, token)
	c := s.browser(t)

	// Not logged in: refused.
	if code, page := post(t, c, s.URL+"/volumes", url.Values{"name": {"a"}}); code != http.StatusForbidden || !strings.Contains(page, "log in") || s.exists("a") {
		t.Fatalf("create before logging in = %d:\n%s", code, page)
	}
	// A wrong token does not log in.
	if code, _ := post(t, c, s.URL+"/login", url.Values{"token": {"guess"}}); code != http.StatusForbidden {
		t.Fatalf("login with a wrong token = %d", code)
	}
	if code, _ := post(t, c, s.URL+"/login", url.Values{"token": {token}}); code != http.StatusSeeOther {
		t.Fatalf("login with the token = %d", code)
	}
	for _, ck := range c.Jar.Cookies(mustURL(t, s.URL)) {
		if strings.Contains(ck.Value, token) {
			t.Fatalf("the session cookie holds the token itself: %q", ck.Value)
		}
	}
	_, page := get(t, c, s.URL+"/")
	csrf := formToken(t, page)

	// Logged in, but without the form's token: refused.
	if code, page := post(t, c, s.URL+"/volumes", url.Values{"name": {"a"}}); code != http.StatusForbidden || s.exists("a") {
		t.Fatalf("create without the form token = %d:\n%s", code, page)
	}
	// From another site, even with everything else right: refused.
	if code, page := post(t, c, s.URL+"/volumes", url.Values{"name": {"a"}, "csrf": {csrf}}, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden || s.exists("a") {
		t.Fatalf("cross-site create = %d:\n%s", code, page)
	}
	// The real form: created, then the registry's own messages on refusals.
	if code, page := post(t, c, s.URL+"/volumes", url.Values{"name": {"a"}, "csrf": {csrf}}); code != http.StatusSeeOther || !s.exists("a") {
		t.Fatalf("create with the form = %d:\n%s", code, page)
	}
	post(t, c, s.URL+"/volumes", url.Values{"name": {"a-team"}, "volume": {"a"}, "subpath": {"team"}, "csrf": {csrf}})
	code, page := post(t, c, s.URL+"/volumes/a/delete", url.Values{"csrf": {csrf}})
	if code != http.StatusConflict || !strings.Contains(page, "a-team") || !s.exists("a") {
		t.Fatalf("deleting a volume with a view = %d, want the registry's refusal naming the view:\n%s", code, page)
	}
	if _, err := s.reg.SetLimit(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	code, page = post(t, c, s.URL+"/volumes", url.Values{"name": {"b"}, "csrf": {csrf}})
	if code != http.StatusConflict || !strings.Contains(page, "reached its limit of 1") {
		t.Fatalf("create past the limit = %d, want the registry's limit message:\n%s", code, page)
	}
	// The volume page shows the view and the delete button.
	if code, page := get(t, c, s.URL+"/volumes/a"); code != http.StatusOK || !strings.Contains(page, `href="/volumes/a-team"`) {
		t.Fatalf("volume page = %d:\n%s", code, page)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
