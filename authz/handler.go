package authz

import (
	"encoding/json"
	"net/http"

	"github.com/docker/go-plugins-helpers/authorization"
	"github.com/docker/go-plugins-helpers/sdk"
	"github.com/sirupsen/logrus"
)

// ImplementsName is what /Plugin.Activate reports for the authorization
// plugin. dockerd activates a legacy plugin once per name and checks the
// interface it needs against that list, so a socket that serves the volume
// driver too must announce both; the socket's owner answers Activate.
const ImplementsName = "authz"

// maxEnvelope bounds the JSON dockerd sends per call. A request call holds
// a body below 1 MiB (4 MiB on the newest engines), base64-encoded, and
// the request's headers (up to 1 MiB, which JSON escaping can make 6 MiB);
// a response call may hold any JSON response, but every response is
// allowed anyway.
const maxEnvelope = 16 << 20

// Registrar is what Register adds its routes to. *volume.Handler (through
// its embedded sdk.Handler), sdk.Handler and *http.ServeMux all fit.
type Registrar interface {
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}

// Register serves p's two authorization endpoints on mux. It leaves
// /Plugin.Activate to the owner of the socket, which lists ImplementsName
// among the protocols it serves.
func Register(mux Registrar, p *Plugin) {
	mux.HandleFunc("/"+authorization.AuthZApiRequest, p.serveDecision(p.AuthZReq, unreadableRequest))
	mux.HandleFunc("/"+authorization.AuthZApiResponse, p.serveDecision(p.AuthZRes, allow()))
}

// unreadableRequest answers a request call the plugin cannot decode: it
// cannot tell whether the request mounts a volume, so it refuses, and says
// so (a protocol mismatch then shows at once instead of letting every
// request through unchecked).
var unreadableRequest = authorization.Response{Allow: false,
	Msg: "s3vol cannot read dockerd's authorization call for this request; see the plugin's log"}

var _ Registrar = sdk.Handler{}

// envelope is the part of dockerd's authorization request the plugin
// reads. Decoding only these fields keeps the TLS peer certificates, which
// the library's Request type parses (and can panic on), out of the way.
type envelope struct {
	User           string            `json:"User"`
	RequestMethod  string            `json:"RequestMethod"`
	RequestURI     string            `json:"RequestUri"`
	RequestBody    []byte            `json:"RequestBody"`
	RequestHeaders map[string]string `json:"RequestHeaders"`
	ResponseStatus int               `json:"ResponseStatusCode"`
}

// serveDecision decodes dockerd's call, asks decide and encodes the answer.
// A call that cannot be read gets unreadable's answer, logged.
func (p *Plugin) serveDecision(decide func(authorization.Request) authorization.Response, unreadable authorization.Response) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var env envelope
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEnvelope)).Decode(&env); err != nil {
			p.log.WithError(err).WithFields(logrus.Fields{"endpoint": r.URL.Path, "allowed": unreadable.Allow}).Error("authz: unreadable call from dockerd")
			sdk.EncodeResponse(w, unreadable, false)
			return
		}
		res := decide(authorization.Request{
			User:               env.User,
			RequestMethod:      env.RequestMethod,
			RequestURI:         env.RequestURI,
			RequestBody:        env.RequestBody,
			RequestHeaders:     env.RequestHeaders,
			ResponseStatusCode: env.ResponseStatus,
		})
		sdk.EncodeResponse(w, res, res.Err != "")
	}
}
