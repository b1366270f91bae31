// Package dashboard is the daemon's web page at "/" of its HTTP listener:
// the organization's usage, every volume and view with its state, size and
// mounts, a page per volume, and forms to create and delete volumes and
// views.
//
// It is server-rendered with html/template from templates embedded in the
// binary, so it needs no build step and fetches nothing from elsewhere; a
// few lines of inline script reload the page every few seconds.
//
// It changes volumes only through the driver (Volumes), the same code the
// Docker calls go through, so the registry's checks and messages (limit
// reached, in use, views exist) are the ones a user of the docker CLI sees.
// Changes need the token (see auth.go); without one the page is read-only.
package dashboard

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/docker/go-plugins-helpers/volume"
	"github.com/dustin/go-humanize"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/driver"
	"github.com/s3vol/s3vol/registry"
)

// Volumes is what the dashboard reads and changes: the volume driver.
type Volumes interface {
	Overview() driver.Overview
	Create(*volume.CreateRequest) error
	Remove(*volume.RemoveRequest) error
}

// Config configures the dashboard.
type Config struct {
	Volumes Volumes
	// Token allows changes to whoever logs in with it; "" makes the
	// dashboard read-only.
	Token string
	// Host is this host's id, shown in the header.
	Host   string
	Logger logrus.FieldLogger
}

// RefreshSeconds is how often the pages reload themselves.
const RefreshSeconds = 5

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"bytes": func(n int64) string { return humanize.IBytes(uint64(max(n, 0))) },
	"ago":   ago,
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"path":  url.PathEscape,
}).ParseFS(templateFS, "templates/*.html"))

// Dashboard serves the pages.
type Dashboard struct {
	cfg  Config
	auth auth
}

// New returns the dashboard's handler for "/" and the paths under it.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	d := &Dashboard{cfg: cfg, auth: newAuth(cfg.Token)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.index)
	mux.HandleFunc("GET /volumes/{name}", d.volumePage)
	mux.HandleFunc("POST /volumes", d.change(d.create))
	mux.HandleFunc("POST /volumes/{name}/delete", d.change(d.remove))
	mux.HandleFunc("GET /login", d.loginPage)
	mux.HandleFunc("POST /login", d.login)
	mux.HandleFunc("POST /logout", d.logout)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "refused: the request came from another site (cross-site request forgery protection)", http.StatusForbidden)
	}))
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders keeps the pages from being framed or loading anything
// from elsewhere.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Title    string
	Host     string
	Overview driver.Overview
	// Entry is the volume page's entry.
	Entry *driver.EntryInfo
	// Notice is a success message, Problem a refusal or failure.
	Notice, Problem string
	// Form is the create form's last input, kept after a refusal.
	Form createForm
	// Auth: whether changes are possible at all (a token is set), whether
	// this browser is logged in, and the form token of its session.
	ReadOnly, LoggedIn bool
	CSRF               string
	Refresh            int
	Now                time.Time
}

// UsedPercent is the organization's use of its limit, for the bar.
func (p page) UsedPercent() int {
	o := p.Overview.Org
	if o.Limit <= 0 {
		return 100
	}
	return min(100, o.Used*100/o.Limit)
}

func (d *Dashboard) newPage(r *http.Request, title string) page {
	return page{
		Title: title, Host: d.cfg.Host, Overview: d.cfg.Volumes.Overview(),
		ReadOnly: !d.auth.enabled(), LoggedIn: d.auth.loggedIn(r), CSRF: d.auth.formToken(r),
		Refresh: RefreshSeconds, Now: time.Now(),
	}
}

func (d *Dashboard) index(w http.ResponseWriter, r *http.Request) {
	p := d.newPage(r, "Volumes")
	q := r.URL.Query()
	switch {
	case q.Get("created") != "":
		p.Notice = fmt.Sprintf("Created %q.", q.Get("created"))
	case q.Get("deleted") != "":
		p.Notice = fmt.Sprintf("Deleted %q; its data is being removed in the background.", q.Get("deleted"))
	case q.Get("loggedin") != "":
		p.Notice = "Logged in: you can create and delete volumes."
	}
	d.render(w, http.StatusOK, "index.html", p)
}

func (d *Dashboard) volumePage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	p := d.newPage(r, name)
	for i := range p.Overview.Entries {
		if p.Overview.Entries[i].Name == name {
			p.Entry = &p.Overview.Entries[i]
		}
	}
	if p.Entry == nil {
		p.Problem = fmt.Sprintf("There is no volume or view %q in organization %q.", name, p.Overview.Org.Name)
		p.Refresh = 0
		d.render(w, http.StatusNotFound, "index.html", p)
		return
	}
	d.render(w, http.StatusOK, "volume.html", p)
}

// createForm is the create form's fields.
type createForm struct {
	Name, Volume, Subpath, UID, GID, Mode string
	ReadOnly                              bool
}

// options turns the form into the options of docker volume create -o.
func (f createForm) options() map[string]string {
	o := map[string]string{}
	set := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			o[k] = v
		}
	}
	set("volume", f.Volume)
	set("subpath", f.Subpath)
	set("uid", f.UID)
	set("gid", f.GID)
	set("mode", f.Mode)
	if f.ReadOnly {
		o["ro"] = "true"
	}
	return o
}

// change wraps a handler that changes volumes: it runs only for a logged-in
// browser whose form carries its session's form token.
func (d *Dashboard) change(do func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := d.auth.check(r); err != nil {
			p := d.newPage(r, "Refused")
			p.Problem, p.Refresh = err.Error(), 0
			d.render(w, http.StatusForbidden, "index.html", p)
			return
		}
		do(w, r)
	}
}

func (d *Dashboard) create(w http.ResponseWriter, r *http.Request) {
	f := createForm{
		Name: strings.TrimSpace(r.PostFormValue("name")), Volume: r.PostFormValue("volume"), Subpath: r.PostFormValue("subpath"),
		UID: r.PostFormValue("uid"), GID: r.PostFormValue("gid"), Mode: r.PostFormValue("mode"), ReadOnly: r.PostFormValue("ro") != "",
	}
	err := d.refuseExisting(f.Name)
	if err == nil {
		err = d.cfg.Volumes.Create(&volume.CreateRequest{Name: f.Name, Options: f.options()})
	}
	if err != nil {
		d.refused(w, r, "create", f.Name, err, f)
		return
	}
	d.cfg.Logger.WithField("volume", f.Name).Info("dashboard: created")
	http.Redirect(w, r, "/?created="+url.QueryEscape(f.Name), http.StatusSeeOther)
}

// refuseExisting says when the name is taken: the driver's Create is
// idempotent for Docker's sake, which would make a second create through
// the form look like a success.
func (d *Dashboard) refuseExisting(name string) error {
	for _, e := range d.cfg.Volumes.Overview().Entries {
		if e.Name == name {
			return fmt.Errorf("a %s named %q already exists", e.Kind, name)
		}
	}
	return nil
}

func (d *Dashboard) remove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := d.cfg.Volumes.Remove(&volume.RemoveRequest{Name: name}); err != nil {
		d.refused(w, r, "delete", name, err, createForm{})
		return
	}
	d.cfg.Logger.WithField("volume", name).Info("dashboard: deleted")
	http.Redirect(w, r, "/?deleted="+url.QueryEscape(name), http.StatusSeeOther)
}

// refused shows the driver's (the registry's) own message for a refused
// change, on the page the form was on.
func (d *Dashboard) refused(w http.ResponseWriter, r *http.Request, op, name string, err error, f createForm) {
	d.cfg.Logger.WithError(err).WithField("volume", name).Info("dashboard: " + op + " refused")
	p := d.newPage(r, "Could not "+op+" "+name)
	p.Problem = fmt.Sprintf("Could not %s %q: %v", op, name, err)
	p.Form, p.Refresh = f, 0
	d.render(w, statusOf(err), "index.html", p)
}

// statusOf maps a refusal to an HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, registry.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, registry.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, registry.ErrExists), errors.Is(err, registry.ErrInUse),
		errors.Is(err, registry.ErrLimitReached), errors.Is(err, registry.ErrConflict):
		return http.StatusConflict
	}
	var rerr *registry.Error
	if errors.As(err, &rerr) {
		return http.StatusConflict
	}
	return http.StatusServiceUnavailable
}

func (d *Dashboard) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, p); err != nil {
		d.cfg.Logger.WithError(err).Error("dashboard: rendering " + name)
		http.Error(w, "the dashboard could not render this page; see the daemon's log", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// ago words how long ago t was, coarsely ("3 minutes ago").
func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return humanize.Time(t)
}
