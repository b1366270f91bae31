package authz

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/docker/go-plugins-helpers/authorization"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/s3vol/s3vol/mountpath"
)

// known is the registry the decisions below are made against.
type known map[string]bool

func (k known) has(name string) bool { return k[name] }

func newTestPlugin(t *testing.T, names known, opts ...Option) (*Plugin, *test.Hook) {
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	return New(names.has, log, opts...), hook
}

func createReq(body string) authorization.Request {
	return authorization.Request{RequestMethod: "POST", RequestURI: "/v1.41/containers/create", RequestBody: []byte(body)}
}

func TestAuthZReqDecisions(t *testing.T) {
	s3 := known{"myvol": true, "bad_data": true}
	cases := []struct {
		name  string
		req   authorization.Request
		names known
		deny  string // substring of the denial; empty: allowed
	}{
		{name: "cli -v myvol:/proc/x", req: createReq(string(readTestdata(t, "run-v-myvol-proc-x.json"))), names: s3,
			deny: `s3vol volume "myvol": mount path "/proc/x" is not allowed: it lies under the system directory /proc`},
		{name: "cli -v of a local volume at /proc/x", req: createReq(string(readTestdata(t, "run-v-myvol-proc-x.json"))), names: known{}},
		{name: "cli --mount dst=/etc", req: createReq(string(readTestdata(t, "create-mount-volume-etc.json"))), names: s3,
			deny: `s3vol volume "myvol": mount path "/etc" is not allowed: it is the system directory /etc`},
		{name: "cli --mount of a local volume at /etc", req: createReq(string(readTestdata(t, "create-mount-volume-etc.json"))), names: known{}},
		{name: "compose named volume at /proc/x", req: createReq(string(readTestdata(t, "compose-named-volume.json"))), names: s3,
			deny: `s3vol volume "bad_data": mount path "/proc/x" is not allowed`},
		{name: "compose long syntax at /etc", req: createReq(string(readTestdata(t, "compose-long-volume.json"))), names: s3,
			deny: `s3vol volume "bad_data": mount path "/etc" is not allowed`},
		{name: "compose volume of another driver", req: createReq(string(readTestdata(t, "compose-named-volume.json"))), names: known{}},
		{name: "cli mixed, all paths fine", req: createReq(string(readTestdata(t, "create-volume-driver-mixed.json"))), names: known{}},

		{name: "new volume through --volume-driver", names: known{},
			req:  createReq(`{"HostConfig": {"VolumeDriver": "s3vol", "Binds": ["fresh:/home/../etc"]}}`),
			deny: `s3vol volume "fresh": mount path "/home/../etc" is not allowed: it contains the relative component ".."`},
		{name: "managed plugin name", names: known{},
			req:  createReq(`{"HostConfig": {"VolumeDriver": "s3vol:latest", "Binds": ["fresh:/data//x"]}}`),
			deny: "consecutive slashes"},
		{name: "other driver named", names: known{},
			req: createReq(`{"HostConfig": {"VolumeDriver": "s3volume", "Binds": ["fresh:/etc"]}}`)},
		{name: "anonymous volume through --volume-driver", names: known{},
			req:  createReq(`{"Volumes": {"/etc/x": {}}, "HostConfig": {"VolumeDriver": "s3vol"}}`),
			deny: `anonymous s3vol volume: mount path "/etc/x" is not allowed`},
		{name: "anonymous bind entry through --volume-driver", names: known{},
			req:  createReq(`{"HostConfig": {"VolumeDriver": "s3vol", "Binds": ["//proc"]}}`),
			deny: `anonymous s3vol volume: mount path "//proc" is not allowed`},
		{name: "anonymous local volume", names: s3,
			req: createReq(`{"Volumes": {"/etc/x": {}}, "HostConfig": {}}`)},
		{name: "host bind mount with --volume-driver", names: s3,
			req: createReq(`{"HostConfig": {"VolumeDriver": "s3vol", "Binds": ["/srv:/etc", "/myvol:/proc/x"]}}`)},
		{name: "--mount volume-driver=s3vol", names: known{},
			req:  createReq(`{"HostConfig": {"Mounts": [{"Type": "volume", "Target": "/", "VolumeOptions": {"DriverConfig": {"Name": "s3vol"}}}]}}`),
			deny: `anonymous s3vol volume: mount path "/" is not allowed: it is the container's root directory`},
		{name: "--mount ignores --volume-driver, as dockerd does", names: known{},
			req: createReq(`{"HostConfig": {"VolumeDriver": "s3vol", "Mounts": [{"Type": "volume", "Source": "lv", "Target": "/etc"}]}}`)},
		{name: "--mount of a known s3vol volume naming another driver", names: s3,
			req:  createReq(`{"HostConfig": {"Mounts": [{"Type": "volume", "Source": "myvol", "Target": "/sys", "VolumeOptions": {"DriverConfig": {"Name": "local"}}}]}}`),
			deny: "/sys"},
		{name: "--mount bind at /etc", names: s3,
			req: createReq(`{"HostConfig": {"Mounts": [{"Type": "bind", "Source": "/myvol", "Target": "/etc"}]}}`)},
		{name: "good and bad: the bad one is named", names: s3,
			req:  createReq(`{"HostConfig": {"Binds": ["myvol:/data", "bad_data:/lib64/x"]}}`),
			deny: `s3vol volume "bad_data": mount path "/lib64/x"`},
		{name: "query string and no version", names: s3,
			req:  authorization.Request{RequestMethod: "POST", RequestURI: "/containers/create?name=x", RequestBody: []byte(`{"HostConfig": {"Binds": ["myvol:/dev/shm"]}}`)},
			deny: "/dev"},

		{name: "API 1.23 start with binds", names: s3,
			req:  authorization.Request{RequestMethod: "POST", RequestURI: "/v1.23/containers/c1/start", RequestBody: []byte(`{"Binds": ["myvol:/etc/app"]}`)},
			deny: `s3vol volume "myvol": mount path "/etc/app" is not allowed: it lies under the system directory /etc`},
		{name: "API 1.23 start with --volume-driver", names: known{},
			req:  authorization.Request{RequestMethod: "POST", RequestURI: "/v1.23/containers/c1/start", RequestBody: []byte(`{"VolumeDriver": "s3vol", "Binds": ["new:/sbin"]}`)},
			deny: `/sbin`},
		{name: "API 1.23 start, fine path", names: s3,
			req: authorization.Request{RequestMethod: "POST", RequestURI: "/v1.23/containers/c1/start", RequestBody: []byte(`{"Binds": ["myvol:/srv"]}`)}},
		{name: "API 1.23 start without a body", names: s3,
			req: authorization.Request{RequestMethod: "POST", RequestURI: "/v1.23/containers/c1/start"}},
		{name: "API 1.41 start with a body (dockerd refuses it)", names: s3,
			req: authorization.Request{RequestMethod: "POST", RequestURI: "/v1.41/containers/c1/start", RequestBody: []byte(`{"Binds": ["myvol:/etc"]}`)}},
		{name: "malformed body", names: s3, req: createReq(`{"HostConfig": {"Binds": "myvol:/etc"}}`),
			deny: "s3vol cannot check the volume mounts of this container create: its body cannot be read (decoding the container-create body"},
		{name: "empty create (dockerd refuses it itself)", names: s3, req: withHeaders(createReq(``), "Content-Length", "0")},
		{name: "create of 1 MiB or more: dockerd withholds the body", names: s3,
			req:  withHeaders(createReq(``), "Content-Type", "application/json", "Content-Length", "1048576"),
			deny: "dockerd did not pass on the body of this container create"},
		{name: "chunked create: older dockerd withholds the body", names: s3,
			req:  withHeaders(createReq(``), "Content-Type", "application/json; charset=utf-8"),
			deny: "dockerd did not pass on the body of this container create"},
		{name: "API 1.23 start with a withheld body", names: s3,
			req:  withHeaders(authorization.Request{RequestMethod: "POST", RequestURI: "/v1.23/containers/c1/start"}, "Content-Type", "application/json", "Content-Length", "2000000"),
			deny: "dockerd did not pass on the body of this container start"},
		{name: "API 1.23 start with a body dockerd ignores (7 bytes or less)", names: s3,
			req: withHeaders(authorization.Request{RequestMethod: "POST", RequestURI: "/v1.23/containers/c1/start"}, "Content-Type", "text/plain", "Content-Length", "4")},
		{name: "API 1.23 start, no body, no headers (curl -X POST)", names: s3,
			req: authorization.Request{RequestMethod: "POST", RequestURI: "/v1.23/containers/c1/start"}},
		{name: "stream without a visible body: image load", names: s3,
			req: withHeaders(authorization.Request{RequestMethod: "POST", RequestURI: "/v1.41/images/load?quiet=1"}, "Content-Type", "application/x-tar")},
		{name: "stream without a visible body: attach", names: s3,
			req: withHeaders(authorization.Request{RequestMethod: "POST", RequestURI: "/v1.41/containers/c1/attach?stream=1&stdin=1"}, "Content-Type", "text/plain", "Upgrade", "tcp")},
		{name: "large JSON body of another request", names: s3,
			req: withHeaders(authorization.Request{RequestMethod: "POST", RequestURI: "/v1.41/volumes/create"}, "Content-Type", "application/json", "Content-Length", "3000000")},
		{name: "not a create", names: s3,
			req: authorization.Request{RequestMethod: "POST", RequestURI: "/v1.41/containers/x/update", RequestBody: []byte(`{"HostConfig": {"Binds": ["myvol:/etc"]}}`)}},
		{name: "GET", names: s3, req: authorization.Request{RequestMethod: "GET", RequestURI: "/v1.41/containers/json"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, _ := newTestPlugin(t, c.names)
			res := p.AuthZReq(c.req)
			if res.Err != "" {
				t.Fatalf("Err %q: the plugin must decide, not fail", res.Err)
			}
			if c.deny == "" {
				if !res.Allow {
					t.Fatalf("denied with %q, want allowed", res.Msg)
				}
				return
			}
			if res.Allow || !strings.Contains(res.Msg, c.deny) {
				t.Fatalf("got allow=%v msg=%q, want denied with %q", res.Allow, res.Msg, c.deny)
			}
		})
	}
}

// The denial carries the validator's message word for word.
func TestDenialIsTheRulesMessage(t *testing.T) {
	p, hook := newTestPlugin(t, known{"myvol": true})
	res := p.AuthZReq(createReq(`{"HostConfig": {"Binds": ["myvol:/proc/x"]}}`))
	want := `s3vol volume "myvol": ` + mountpath.Check("/proc/x").Error()
	if res.Allow || res.Msg != want {
		t.Fatalf("got %+v, want denial %q", res, want)
	}
	e := hook.LastEntry()
	if e == nil || e.Data["volume"] != "myvol" || e.Data["target"] != "/proc/x" || e.Data["rule"] != "is at or under a system directory" {
		t.Fatalf("denial log entry %+v", e)
	}
}

// Requests other than container creates never reach the lookup, and a
// create asks it at most once per volume mount.
func TestLookupOnlyForCreates(t *testing.T) {
	var calls atomic.Int32
	log, _ := test.NewNullLogger()
	p := New(func(string) bool { calls.Add(1); return true }, log)
	p.AuthZReq(authorization.Request{RequestMethod: "POST", RequestURI: "/v1.41/volumes/create", RequestBody: []byte(`{"Name": "x"}`)})
	p.AuthZReq(authorization.Request{RequestMethod: "GET", RequestURI: "/v1.41/info"})
	if n := calls.Load(); n != 0 {
		t.Fatalf("lookup called %d times for non-create requests", n)
	}
	p.AuthZReq(createReq(`{"HostConfig": {"Binds": ["a:/a", "b:/b", "/host:/c"]}}`))
	if n := calls.Load(); n != 2 {
		t.Fatalf("lookup called %d times for two volume mounts", n)
	}
}

// withHeaders sets the request headers dockerd passes on, as name, value pairs.
func withHeaders(req authorization.Request, kv ...string) authorization.Request {
	req.RequestHeaders = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		req.RequestHeaders[kv[i]] = kv[i+1]
	}
	return req
}

// A container create whose volumes the plugin cannot see is refused, not
// allowed unchecked: padding a create with a large environment variable
// must not get an s3vol volume mounted at /etc. The refusal says why and
// how to get past it; it is logged.
func TestUncheckableBodiesAreRefused(t *testing.T) {
	withheld := withHeaders(createReq(``), "Content-Type", "application/json", "Content-Length", "1500000")
	for _, req := range []authorization.Request{withheld, createReq(`not json`)} {
		p, hook := newTestPlugin(t, known{"myvol": true})
		res := p.AuthZReq(req)
		if res.Allow {
			t.Fatalf("body %q (headers %v) allowed unchecked", req.RequestBody, req.RequestHeaders)
		}
		for _, want := range []string{"s3vol cannot check", "S3VOL_AUTHZ_ALLOW_UNCHECKED"} {
			if !strings.Contains(res.Msg, want) {
				t.Errorf("refusal %q does not say %q", res.Msg, want)
			}
		}
		if e := hook.LastEntry(); e == nil || e.Level != logrus.WarnLevel {
			t.Errorf("refusal of body %q not logged as a warning (%+v)", req.RequestBody, e)
		}
	}
	if res := newPluginOf(t, WithUncheckedAllowed(true)).AuthZReq(withheld); !res.Allow {
		t.Errorf("with unchecked bodies allowed, a withheld body was refused: %q", res.Msg)
	}
	if res := newPluginOf(t, WithUncheckedAllowed(true)).AuthZReq(createReq(`{"HostConfig": {"Binds": ["myvol:/etc"]}}`)); res.Allow {
		t.Error("with unchecked bodies allowed, a visible forbidden mount was allowed")
	}
}

func newPluginOf(t *testing.T, opts ...Option) *Plugin {
	p, _ := newTestPlugin(t, known{"myvol": true}, opts...)
	return p
}

func TestAuthZResAllows(t *testing.T) {
	p, _ := newTestPlugin(t, known{"myvol": true})
	req := createReq(`{"HostConfig": {"Binds": ["myvol:/proc/x"]}}`)
	req.ResponseStatusCode = 201
	if res := p.AuthZRes(req); !res.Allow {
		t.Fatalf("response phase denied: %+v", res)
	}
}

func TestWithDriverName(t *testing.T) {
	p, _ := newTestPlugin(t, known{}, WithDriverName("s3vol-dev"))
	if res := p.AuthZReq(createReq(`{"HostConfig": {"VolumeDriver": "s3vol-dev", "Binds": ["v:/boot"]}}`)); res.Allow {
		t.Fatal("volume of the renamed driver at /boot allowed")
	}
	if res := p.AuthZReq(createReq(`{"HostConfig": {"VolumeDriver": "s3vol", "Binds": ["v:/boot"]}}`)); !res.Allow {
		t.Fatalf("volume of another driver denied: %q", res.Msg)
	}
	if !errors.Is(mountpath.Check("/boot"), mountpath.ErrSystemDir) {
		t.Fatal("/boot is not a system directory any more; fix this test")
	}
}
