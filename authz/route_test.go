package authz

import "testing"

func TestClassify(t *testing.T) {
	cases := []struct {
		method, uri string
		want        requestKind
	}{
		{"POST", "/v1.41/containers/create", containerCreate},
		{"POST", "/v1.41/containers/create?name=web", containerCreate},
		{"POST", "/containers/create", containerCreate},
		{"POST", "/containers/create?name=a&platform=linux", containerCreate},
		{"POST", "/v1.12/containers/create", containerCreate},
		{"POST", "/v1.41//containers/create", containerCreate},
		{"POST", "/v1/containers/create", containerCreate},
		{"POST", "/v1.23/containers/abc/start", legacyStart},
		{"POST", "/v1.12/containers/abc/start?x=y", legacyStart},
		{"POST", "/v1.9/containers/abc/start", legacyStart},
		{"POST", "/v1.24/containers/abc/start", otherRequest},
		{"POST", "/v1.41/containers/abc/start", otherRequest},
		{"POST", "/containers/abc/start", otherRequest},
		{"POST", "/v1.23/containers/start", otherRequest},
		{"POST", "/v1.23/containers/a/b/start", otherRequest},
		{"GET", "/v1.41/containers/create", otherRequest},
		{"POST", "/v1.41/containers/abc/update", otherRequest},
		{"POST", "/v1.41/containers/create/x", otherRequest},
		{"POST", "/v1.41/volumes/create", otherRequest},
		{"POST", "/v1.41/services/create", otherRequest},
		{"POST", "/vx/containers/create", otherRequest},
		{"POST", "/v1.41/containers/createx", otherRequest},
		{"GET", "/_ping", otherRequest},
		{"POST", "", otherRequest},
		{"POST", "::", otherRequest},
	}
	for _, c := range cases {
		if got := classify(c.method, c.uri); got != c.want {
			t.Errorf("classify(%q, %q) = %v, want %v", c.method, c.uri, got, c.want)
		}
	}
}

func TestVersionLess(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"1.23", "1.24", true}, {"1.9", "1.24", true}, {"1.24", "1.24", false}, {"1.41", "1.24", false},
		{"1", "1.24", true}, {"2", "1.24", false}, {"1.24.0", "1.24", false}, {"1..2", "1.24", true},
	}
	for _, c := range cases {
		if got := versionLess(c.a, c.b); got != c.want {
			t.Errorf("versionLess(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
