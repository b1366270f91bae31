package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// /Plugin.Activate lists exactly the protocols the socket serves: with
// the authorization plugin off, dockerd must not be told it is there (it
// would send authorization calls that get 404), and with it on, it must be
// listed (dockerd refuses --authorization-plugin otherwise).
func TestActivateListsWhatIsServed(t *testing.T) {
	for _, authzOn := range []bool{false, true} {
		dir := t.TempDir()
		cfg, _, err := parseConfig(newFlagSet("serve", io.Discard), []string{
			"--state-dir", dir, "--mount-root", filepath.Join(dir, "mounts"), "--socket", filepath.Join(dir, "s.sock"),
			"--credentials-file", "", "--authz=" + map[bool]string{false: "false", true: "true"}[authzOn]})
		if err != nil {
			t.Fatal(err)
		}
		log := logrus.New()
		log.SetOutput(io.Discard)
		d, err := newDaemon(cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		h := d.handler()
		call := func(path, body string) (int, string) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
			return rec.Code, rec.Body.String()
		}
		code, body := call("/Plugin.Activate", "{}")
		var manifest struct{ Implements []string }
		if err := json.Unmarshal([]byte(body), &manifest); err != nil || code != http.StatusOK {
			t.Fatalf("authz=%v: Activate answered %d %q (%v)", authzOn, code, body, err)
		}
		served := map[string]bool{}
		if code, _ := call("/VolumeDriver.Capabilities", "{}"); code == http.StatusOK {
			served["VolumeDriver"] = true
		}
		if code, _ := call("/AuthZPlugin.AuthZRes", "{}"); code == http.StatusOK {
			served["authz"] = true
		}
		if !served["VolumeDriver"] || served["authz"] != authzOn {
			t.Fatalf("authz=%v: served protocols %v", authzOn, served)
		}
		if len(manifest.Implements) != len(served) || !slices.ContainsFunc(manifest.Implements, func(s string) bool { return served[s] }) {
			t.Errorf("authz=%v: Activate lists %v, the socket serves %v", authzOn, manifest.Implements, served)
		}
		for _, name := range manifest.Implements {
			if !served[name] {
				t.Errorf("authz=%v: Activate lists %q, which is not served", authzOn, name)
			}
		}
		d.reg.Close()
		d.uploads.Close()
	}
}
