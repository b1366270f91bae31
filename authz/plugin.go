// Package authz is s3vol's Docker authorization plugin: it refuses to
// create a container that mounts an s3vol volume at a path mountpath.Check
// rejects, and allows every other request at once.
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
	"strings"

	"github.com/docker/go-plugins-helpers/authorization"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/mountpath"
)

// DefaultDriverName is the volume driver name s3vol is installed under.
const DefaultDriverName = "s3vol"

// Plugin is the authorization plugin. It implements authorization.Plugin.
type Plugin struct {
	isS3vol func(name string) bool
	driver  string
	log     logrus.FieldLogger
}

var _ authorization.Plugin = (*Plugin)(nil)

// Option adjusts a Plugin.
type Option func(*Plugin)

// WithDriverName sets the volume driver name the plugin recognises in
// --volume-driver and --mount volume-driver= (default "s3vol"); the name
// with ":latest" appended, as dockerd writes managed plugins, matches too.
func WithDriverName(name string) Option { return func(p *Plugin) { p.driver = name } }

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
// can mount volumes are examined; a body the plugin cannot read is allowed,
// since judging it is dockerd's job, and logged.
func (p *Plugin) AuthZReq(req authorization.Request) authorization.Response {
	kind := classify(req.RequestMethod, req.RequestURI)
	if kind == otherRequest {
		return allow()
	}
	log := p.log.WithFields(logrus.Fields{"uri": req.RequestURI, "user": req.User})
	mounts, err := p.mounts(kind, req.RequestBody, log)
	if err != nil {
		log.WithError(err).Warn("authz: unreadable request body; allowed unchecked")
		return allow()
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

func (p *Plugin) mounts(kind requestKind, body []byte, log logrus.FieldLogger) ([]volumeMount, error) {
	if len(body) == 0 {
		if kind == containerCreate {
			// dockerd forwards no body when it is chunked or 1 MiB or more.
			log.Warn("authz: container create without a visible body; allowed unchecked")
		}
		return nil, nil // a start without a body is the normal case
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
