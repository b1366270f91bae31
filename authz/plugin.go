// Package authz is s3vol's Docker authorization plugin: it refuses to
// create a container that mounts an s3vol volume at a path mountpath.Check
// rejects, and allows every other request at once.
//
// It fails closed: a container create (or an API 1.23 start) whose body
// it cannot see or read is refused, unless WithUncheckedAllowed says
// otherwise. dockerd passes a request's body to the plugin only below
// 1 MiB and with a JSON Content-Type (older engines, before the fix of
// CVE-2024-41110, also not when chunked), so a create padded with a large
// environment variable would otherwise mount anything anywhere. Requests
// that cannot mount volumes (image loads, attach, exec and other streams)
// are never examined, so their bodies do not matter.
//
// Docker never tells a volume driver where a volume is mounted in the
// container, so the mount-path policy can only be enforced here, on the
// container-create request. The plugin is opt-in: dockerd consults it only
// when started with --authorization-plugin=s3vol (or "authorization-plugins"
// in daemon.json). It is served on the volume driver's own socket; see
// Register.
package authz

import (
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"

	"github.com/docker/go-plugins-helpers/authorization"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/mountpath"
)

// DefaultDriverName is the volume driver name s3vol is installed under.
const DefaultDriverName = "s3vol"

// Plugin is the authorization plugin. It implements authorization.Plugin.
type Plugin struct {
	isS3vol        func(name string) bool
	driver         string
	allowUnchecked bool // allow requests whose volume mounts cannot be seen
	log            logrus.FieldLogger
}

var _ authorization.Plugin = (*Plugin)(nil)

// Option adjusts a Plugin.
type Option func(*Plugin)

// WithDriverName sets the volume driver name the plugin recognises in
// --volume-driver and --mount volume-driver= (default "s3vol"); the name
// with ":latest" appended, as dockerd writes managed plugins, matches too.
func WithDriverName(name string) Option { return func(p *Plugin) { p.driver = name } }

// WithUncheckedAllowed makes the plugin allow, with a warning, the
// container creates whose body dockerd withheld or that it cannot read,
// as it did before it failed closed: for engines whose clients send
// creates of 1 MiB or more, at the price of the mount-path rule.
func WithUncheckedAllowed(allow bool) Option { return func(p *Plugin) { p.allowUnchecked = allow } }

// New returns the plugin. isS3vol tells whether a volume of that name is an
// s3vol volume; it is called while dockerd waits on every container create,
// so it must answer from memory (the driver's registry cache) and never
// wait on the store.
func New(isS3vol func(name string) bool, log logrus.FieldLogger, opts ...Option) *Plugin {
	p := &Plugin{isS3vol: isS3vol, driver: DefaultDriverName, log: log}
	for _, o := range opts {
		o(p)
	}
	return p
}

// AuthZReq decides a request before dockerd runs it. Only requests that
// can mount volumes are examined; one whose body the plugin cannot see or
// read is refused (see WithUncheckedAllowed).
func (p *Plugin) AuthZReq(req authorization.Request) authorization.Response {
	kind := classify(req.RequestMethod, req.RequestURI)
	if kind == otherRequest {
		return allow()
	}
	log := p.log.WithFields(logrus.Fields{"uri": req.RequestURI, "user": req.User})
	if bodyWithheld(kind, req) {
		return p.unchecked(log, kind, "dockerd did not pass on the body of this "+kind.String()+
			" (it passes none of 1 MiB or more, and older engines none of a chunked request)", nil)
	}
	mounts, err := p.mounts(kind, req.RequestBody)
	if err != nil {
		return p.unchecked(log, kind, "its body cannot be read", err)
	}
	for _, m := range mounts {
		if !p.isOurs(m) {
			continue
		}
		if err := mountpath.Check(m.Target); err != nil {
			log.WithFields(logrus.Fields{"volume": m.Name, "target": m.Target, "from": m.Origin, "rule": ruleOf(err)}).
				Info("authz: request refused: s3vol volume at a forbidden path")
			return authorization.Response{Allow: false, Msg: denial(m, err)}
		}
	}
	return allow()
}

// unchecked answers a request whose volume mounts cannot be seen: refused,
// saying why and how to get past it, unless unchecked requests are allowed.
func (p *Plugin) unchecked(log logrus.FieldLogger, kind requestKind, why string, err error) authorization.Response {
	if err != nil {
		log = log.WithError(err)
	}
	if p.allowUnchecked {
		log.Warn("authz: " + why + "; allowed unchecked (S3VOL_AUTHZ_ALLOW_UNCHECKED)")
		return allow()
	}
	log.Warn("authz: " + why + "; refused")
	msg := "s3vol cannot check the volume mounts of this " + kind.String() + ": " + why
	if err != nil {
		msg += " (" + err.Error() + ")"
	}
	return authorization.Response{Allow: false, Msg: msg +
		"; send it as JSON with a Content-Length below 1 MiB, or set S3VOL_AUTHZ_ALLOW_UNCHECKED=true on the plugin to allow such requests unchecked"}
}

// bodyWithheld tells whether dockerd read a body for the request that it
// did not pass on. The headers tell: a Content-Length above what dockerd
// ignores, or, without one (chunked), a JSON Content-Type, without which
// dockerd refuses to read a body at all. A request with neither has no
// body (curl -X POST).
func bodyWithheld(kind requestKind, req authorization.Request) bool {
	if len(req.RequestBody) > 0 {
		return false
	}
	if v, ok := header(req.RequestHeaders, "Content-Length"); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return err != nil || n > kind.ignoredBodySize()
	}
	v, _ := header(req.RequestHeaders, "Content-Type")
	mediaType, _, err := mime.ParseMediaType(v)
	return err == nil && mediaType == "application/json"
}

// header looks a header up in dockerd's flattened map, whose names are in
// Go's canonical form; others are matched too, in case.
func header(h map[string]string, name string) (string, bool) {
	if v, ok := h[name]; ok {
		return v, true
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func (p *Plugin) mounts(kind requestKind, body []byte) ([]volumeMount, error) {
	if len(body) == 0 {
		// A start without a body is the normal case; dockerd refuses a
		// create without one itself.
		return nil, nil
	}
	if kind == legacyStart {
		return legacyStartMounts(body)
	}
	return volumeMounts(body)
}

// AuthZRes decides a response after dockerd ran the request: always
// allowed, the policy is about requests only.
func (p *Plugin) AuthZRes(authorization.Request) authorization.Response { return allow() }

// isOurs tells whether a mount is of an s3vol volume: one the request asks
// the s3vol driver for, or an existing volume the registry knows. A
// request naming s3vol for a volume another driver holds fails in dockerd
// anyway (name conflict), so counting it as ours refuses nothing valid.
func (p *Plugin) isOurs(m volumeMount) bool {
	if p.isOurDriver(m.Driver) {
		return true
	}
	return m.Name != "" && p.isS3vol(m.Name)
}

func (p *Plugin) isOurDriver(name string) bool {
	return name != "" && (name == p.driver || name == p.driver+":latest")
}

// denial is the message the docker user reads after
// "authorization denied by plugin s3vol: ".
func denial(m volumeMount, err error) string {
	if m.Name == "" {
		return fmt.Sprintf("anonymous s3vol volume: %v", err)
	}
	return fmt.Sprintf("s3vol volume %q: %v", m.Name, err)
}

func ruleOf(err error) string {
	var e *mountpath.Error
	if errors.As(err, &e) {
		return strings.TrimPrefix(e.Rule.Error(), "the path ")
	}
	return err.Error()
}

func allow() authorization.Response { return authorization.Response{Allow: true} }
