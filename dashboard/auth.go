package dashboard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
)

// auth decides who may change volumes. The token is given once, on the
// login page; the browser then holds a session cookie derived from it (an
// HMAC, so the cookie does not reveal the token, and changing the token
// ends every session). Every change also carries a form token derived from
// the session, and cross-site requests are refused before that (see
// http.CrossOriginProtection in New): a page on another site can make a
// browser send the cookie, but neither read the form token nor pass as
// same-origin.
type auth struct{ token string }

func newAuth(token string) auth { return auth{token: token} }

const sessionCookie = "s3vol_session"

func (a auth) enabled() bool { return a.token != "" }

func (a auth) mac(purpose string) string {
	m := hmac.New(sha256.New, []byte(a.token))
	m.Write([]byte("s3vol dashboard " + purpose))
	return hex.EncodeToString(m.Sum(nil))
}

func (a auth) session() string { return a.mac("session") }

// loggedIn reports whether r carries a valid session cookie.
func (a auth) loggedIn(r *http.Request) bool {
	if !a.enabled() {
		return false
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && hmac.Equal([]byte(c.Value), []byte(a.session()))
}

// formToken is the token forms carry for a logged-in browser, "" for others.
func (a auth) formToken(r *http.Request) string {
	if !a.loggedIn(r) {
		return ""
	}
	return a.mac("form " + a.session())
}

// Refusals of a change, as the page shows them.
var (
	errReadOnly = errors.New("this dashboard is read-only: the daemon was started without a token; set S3VOL_HTTP_TOKEN (or S3VOL_HTTP_TOKEN_FILE) to create and delete volumes here")
	errLogIn    = errors.New("refused: changes need the dashboard token; log in with it first (the Log in link at the top)")
	errForm     = errors.New("refused: the form's token is missing or stale; reload the page and try again")
)

// check allows a change request, or says why not.
func (a auth) check(r *http.Request) error {
	switch {
	case !a.enabled():
		return errReadOnly
	case !a.loggedIn(r):
		return errLogIn
	}
	want := a.formToken(r)
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(want)) != 1 {
		return errForm
	}
	return nil
}

// validToken reports whether token is the dashboard's token.
func (a auth) validToken(token string) bool {
	return a.enabled() && subtle.ConstantTimeCompare([]byte(token), []byte(a.token)) == 1
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	p := d.newPage(r, "Log in")
	p.Refresh = 0
	if p.ReadOnly {
		p.Problem = errReadOnly.Error()
	}
	d.render(w, http.StatusOK, "login.html", p)
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	if !d.auth.validToken(r.PostFormValue("token")) {
		p := d.newPage(r, "Log in")
		p.Refresh = 0
		p.Problem = "That is not the dashboard's token (S3VOL_HTTP_TOKEN or the file S3VOL_HTTP_TOKEN_FILE names)."
		if p.ReadOnly {
			p.Problem = errReadOnly.Error()
		}
		d.cfg.Logger.WithField("remote", r.RemoteAddr).Warn("dashboard: a login with a wrong token")
		d.render(w, http.StatusForbidden, "login.html", p)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: d.auth.session(), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/?loggedin=1", http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
