package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-plugins-helpers/authorization"
	"github.com/docker/go-plugins-helpers/volume"
	"github.com/sirupsen/logrus/hooks/test"
)

// serveCombined serves a folder volume driver and the plugin on one unix
// socket, the way the daemon does, and returns the socket's path.
func serveCombined(t *testing.T, sock string, p *Plugin, d *folderDriver) {
	t.Helper()
	h := volume.NewHandler(d)
	Register(h, p)
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(l) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("serving %s: %v", sock, err)
		}
	})
}

// pluginClient talks to a plugin socket as dockerd does: POST with a JSON
// body.
type pluginClient struct{ c *http.Client }

func newPluginClient(sock string) pluginClient {
	return pluginClient{c: &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}},
	}}
}

func (pc pluginClient) call(t *testing.T, endpoint string, body []byte) (int, []byte) {
	t.Helper()
	res, err := pc.c.Post("http://plugin/"+endpoint, "application/vnd.docker.plugins.v1.2+json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /%s: %v", endpoint, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading /%s: %v", endpoint, err)
	}
	return res.StatusCode, out
}

func (pc pluginClient) decide(t *testing.T, endpoint string, req authorization.Request) authorization.Response {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	status, out := pc.call(t, endpoint, body)
	var res authorization.Response
	if err := json.Unmarshal(out, &res); err != nil || status != http.StatusOK {
		t.Fatalf("/%s: status %d, body %q (%v)", endpoint, status, out, err)
	}
	return res
}

func TestCombinedSocket(t *testing.T) {
	dir := t.TempDir()
	d := newFolderDriver(filepath.Join(dir, "volumes"))
	log, hook := test.NewNullLogger()
	sock := filepath.Join(dir, "plugin.sock")
	serveCombined(t, sock, New(d.Has, log), d)
	pc := newPluginClient(sock)

	// The manifest announces both interfaces.
	status, out := pc.call(t, "Plugin.Activate", nil)
	var manifest struct{ Implements []string }
	if err := json.Unmarshal(out, &manifest); err != nil || status != 200 {
		t.Fatalf("Activate: status %d, %q (%v)", status, out, err)
	}
	if strings.Join(manifest.Implements, ",") != "VolumeDriver,authz" {
		t.Fatalf("Activate implements %v, want VolumeDriver and authz", manifest.Implements)
	}

	// The volume driver's endpoints are still served.
	if status, out := pc.call(t, "VolumeDriver.Create", []byte(`{"Name": "myvol"}`)); status != 200 {
		t.Fatalf("VolumeDriver.Create: %d %q", status, out)
	}
	status, out = pc.call(t, "VolumeDriver.List", []byte(`{}`))
	if status != 200 || !strings.Contains(string(out), `"Name":"myvol"`) {
		t.Fatalf("VolumeDriver.List: %d %q", status, out)
	}

	// The authorization endpoints decide with the driver's registry.
	bad := authorization.Request{RequestMethod: "POST", RequestURI: "/v1.41/containers/create",
		RequestBody: readTestdata(t, "run-v-myvol-proc-x.json")}
	if res := pc.decide(t, "AuthZPlugin.AuthZReq", bad); res.Allow || !strings.Contains(res.Msg, "/proc/x") {
		t.Fatalf("AuthZReq for myvol at /proc/x: %+v", res)
	}
	if res := pc.decide(t, "AuthZPlugin.AuthZRes", bad); !res.Allow {
		t.Fatalf("AuthZRes: %+v", res)
	}
	good := bad
	good.RequestBody = []byte(`{"HostConfig": {"Binds": ["myvol:/home/app/data"]}}`)
	if res := pc.decide(t, "AuthZPlugin.AuthZReq", good); !res.Allow {
		t.Fatalf("AuthZReq for myvol at /home/app/data: %+v", res)
	}

	// dockerd passes the request's headers on; they tell a withheld body.
	withheld := authorization.Request{RequestMethod: "POST", RequestURI: "/v1.41/containers/create",
		RequestHeaders: map[string]string{"Content-Type": "application/json", "Content-Length": "1048576"}}
	if res := pc.decide(t, "AuthZPlugin.AuthZReq", withheld); res.Allow || !strings.Contains(res.Msg, "did not pass on the body") {
		t.Fatalf("AuthZReq for a create with a withheld body: %+v", res)
	}

	// A request call the plugin cannot read is refused and logged: it
	// cannot tell what the request would do. A response call is allowed,
	// as every response is.
	hook.Reset()
	status, out = pc.call(t, "AuthZPlugin.AuthZReq", []byte(`{"RequestBody": 12`))
	if status != 200 || !strings.Contains(string(out), `"Allow":false`) || !strings.Contains(string(out), "cannot read") {
		t.Fatalf("unreadable request call: %d %q", status, out)
	}
	if e := hook.LastEntry(); e == nil || !strings.Contains(e.Message, "unreadable call") {
		t.Fatalf("unreadable call not logged: %+v", e)
	}
	status, out = pc.call(t, "AuthZPlugin.AuthZRes", []byte(`{"RequestBody": 12`))
	if status != 200 || !strings.Contains(string(out), `"Allow":true`) {
		t.Fatalf("unreadable response call: %d %q", status, out)
	}
}

// Register on a mux that already routes the POST manifest panics at start,
// rather than serving one of the two manifests at random.
func TestRegisterConflictPanics(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /Plugin.Activate", func(http.ResponseWriter, *http.Request) {})
	log, _ := test.NewNullLogger()
	defer func() {
		if recover() == nil {
			t.Fatal("Register did not panic on a conflicting route")
		}
	}()
	Register(mux, New(func(string) bool { return false }, log))
}
