package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
	// The socket's owner answers Activate for both protocols (the daemon's
	// pluginMux does that in s3vol); volume.NewHandler's own answer, for any
	// method, names only the volume driver.
	h.HandleFunc("POST /Plugin.Activate", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"Implements": ["VolumeDriver", "`+ImplementsName+`"]}`)
	})
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

	// The volume driver's endpoints are still served (the socket's
	// manifest is its owner's: see plugin's TestActivateListsWhatIsServed).
	if status, out := pc.call(t, "VolumeDriver.Create", []byte(`{"Name": "myvol"}`)); status != 200 {
		t.Fatalf("VolumeDriver.Create: %d %q", status, out)
	}
	status, out := pc.call(t, "VolumeDriver.List", []byte(`{}`))
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

// Register routes only the authorization endpoints: /Plugin.Activate
// belongs to the socket's owner, which lists every protocol it serves (a
// manifest of Register's own once overrode the owner's list).
func TestRegisterLeavesActivateToTheSocketOwner(t *testing.T) {
	mux := http.NewServeMux()
	log, _ := test.NewNullLogger()
	Register(mux, New(func(string) bool { return false }, log))
	for _, method := range []string{"POST", "GET"} {
		if _, pattern := mux.Handler(httptest.NewRequest(method, "/Plugin.Activate", nil)); pattern != "" {
			t.Errorf("Register routes %s /Plugin.Activate (pattern %q)", method, pattern)
		}
	}
	for _, path := range []string{"/AuthZPlugin.AuthZReq", "/AuthZPlugin.AuthZRes"} {
		if _, pattern := mux.Handler(httptest.NewRequest("POST", path, nil)); pattern == "" {
			t.Errorf("Register does not route %s", path)
		}
	}
}
