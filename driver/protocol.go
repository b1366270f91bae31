package driver

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/docker/go-plugins-helpers/sdk"
	"github.com/docker/go-plugins-helpers/volume"
)

// ImplementsName is what the plugin's /Plugin.Activate reports for the
// volume driver.
const ImplementsName = "VolumeDriver"

// PathPrefix is the prefix of every volume driver call.
const PathPrefix = "/VolumeDriver."

// Register routes Docker's volume driver protocol (POST /VolumeDriver.*)
// to d on mux. Unlike go-plugins-helpers' volume.Handler it leaves
// /Plugin.Activate to the caller, so the daemon can serve other plugin
// protocols (authz) on the same socket and answer Activate for all. The
// request and reply shapes are go-plugins-helpers' own.
func Register(mux *http.ServeMux, d volume.Driver) {
	route(mux, "Create", func(q *volume.CreateRequest) (any, error) { return struct{}{}, d.Create(q) })
	route(mux, "Remove", func(q *volume.RemoveRequest) (any, error) { return struct{}{}, d.Remove(q) })
	route(mux, "Mount", func(q *volume.MountRequest) (any, error) { return d.Mount(q) })
	route(mux, "Unmount", func(q *volume.UnmountRequest) (any, error) { return struct{}{}, d.Unmount(q) })
	route(mux, "Path", func(q *volume.PathRequest) (any, error) { return d.Path(q) })
	route(mux, "Get", func(q *volume.GetRequest) (any, error) { return d.Get(q) })
	route(mux, "List", func(*struct{}) (any, error) { return d.List() })
	route(mux, "Capabilities", func(*struct{}) (any, error) { return d.Capabilities(), nil })
}

// route serves POST /VolumeDriver.<method>: it decodes the request into a
// Req, calls fn, and encodes the reply, or the error in Docker's {"Err"}.
func route[Req any](mux *http.ServeMux, method string, fn func(*Req) (any, error)) {
	mux.HandleFunc("POST "+PathPrefix+method, func(w http.ResponseWriter, r *http.Request) {
		var req Req
		var res any
		err := decode(r, &req)
		if err == nil {
			res, err = fn(&req)
		}
		var unknown *CannotTellError
		switch {
		case errors.As(err, &unknown):
			failTransport(w, err)
		case err != nil:
			encode(w, http.StatusInternalServerError, volume.NewErrorResponse(err.Error()))
		default:
			encode(w, http.StatusOK, res)
		}
	})
}

// failTransport answers with a transport error carrying err's message. It
// writes a status line and then the message as a header line without a
// colon, and closes the connection: Go's HTTP client (dockerd's) fails the
// call with "net/http: HTTP/1.x transport connection broken: malformed MIME
// header line: <message>" in a *url.Error, which is a net.Error: the one
// kind of driver error dockerd's volume lookup does not take for "no such
// volume" (moby volume/service/store.go, lookupVolume). dockerd retries it
// with backoff for up to about 30 s (pkg/plugins, callWithRetry), then
// fails the command with the message.
func failTransport(w http.ResponseWriter, err error) {
	hj, ok := w.(http.Hijacker)
	if !ok { // not over a connection of net/http's server: cannot happen
		encode(w, http.StatusInternalServerError, volume.NewErrorResponse(err.Error()))
		return
	}
	conn, buf, herr := hj.Hijack()
	if herr != nil {
		encode(w, http.StatusInternalServerError, volume.NewErrorResponse(err.Error()))
		return
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 503 Service Unavailable\r\n" + headerSafe(err.Error()) + "\r\n\r\n")
	buf.Flush()
}

// headerSafe makes msg one header line with no colon, which the client
// must reject: line breaks become spaces, the ": " that chains messages
// becomes " - ", and any other colon (in addresses) a look-alike (U+A789).
func headerSafe(msg string) string {
	msg = strings.NewReplacer("\r", " ", "\n", " ", ": ", " - ", ":", "\uA789").Replace(msg)
	return strings.TrimLeft(msg, " \t") // a leading blank would make it a continuation line
}

// decode reads a request body; an empty body is an empty request (dockerd
// sends none for List and Capabilities).
func decode(r *http.Request, v any) error {
	err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(v)
	if err != nil && !errors.Is(err, io.EOF) {
		return &requestError{err}
	}
	return nil
}

type requestError struct{ err error }

func (e *requestError) Error() string {
	return "malformed request from Docker: " + strings.TrimSpace(e.err.Error())
}

func encode(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", sdk.DefaultContentTypeV1_1)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
