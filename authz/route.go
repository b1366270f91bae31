package authz

import (
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// requestKind says whether a Docker API request can mount volumes.
type requestKind int

const (
	otherRequest    requestKind = iota
	containerCreate             // POST /containers/create: the body is a create config
	legacyStart                 // POST /v1.x/containers/{id}/start, x < 24: the body may be a HostConfig
)

func (k requestKind) String() string {
	switch k {
	case containerCreate:
		return "container create"
	case legacyStart:
		return "container start"
	}
	return "request"
}

// ignoredBodySize is the largest body dockerd ignores for the request: a
// start reads a HostConfig only from a body over 7 bytes (the smallest
// JSON object that says anything); a create reads every body.
func (k requestKind) ignoredBodySize() int64 {
	if k == legacyStart {
		return 7
	}
	return 0
}

// versionPrefix matches the API version dockerd's router accepts in front
// of every endpoint, as in /v1.41/containers/create.
var versionPrefix = regexp.MustCompile(`^/v([0-9.]+)/`)

// classify tells what a request is from its method and URI: the path may
// carry a version prefix and any query string (?name=...).
func classify(method, requestURI string) requestKind {
	if method != "POST" {
		return otherRequest
	}
	u, err := url.ParseRequestURI(requestURI)
	if err != nil {
		return otherRequest
	}
	p, version := path.Clean(u.Path), ""
	if m := versionPrefix.FindStringSubmatchIndex(p); m != nil {
		version, p = p[m[2]:m[3]], p[m[1]-1:]
	}
	switch {
	case p == "/containers/create":
		return containerCreate
	case isStart(p) && version != "" && versionLess(version, "1.24"):
		// API 1.23 and older still let a start request carry the
		// container's HostConfig, binds included.
		return legacyStart
	}
	return otherRequest
}

func isStart(p string) bool {
	id, ok := strings.CutPrefix(p, "/containers/")
	id, ok2 := strings.CutSuffix(id, "/start")
	return ok && ok2 && id != "" && !strings.Contains(id, "/")
}

// versionLess compares API versions field by field, numerically, as
// dockerd does; a field that is not a number counts as 0.
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x < y
		}
	}
	return false
}
