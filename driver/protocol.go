package driver

import (
	"encoding/json"
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
	handle := func(method string, fn func(r *http.Request) (any, error)) {
		mux.HandleFunc("POST "+PathPrefix+method, func(w http.ResponseWriter, r *http.Request) {
			res, err := fn(r)
			if err != nil {
				encode(w, http.StatusInternalServerError, volume.NewErrorResponse(err.Error()))
				return
			}
			encode(w, http.StatusOK, res)
		})
	}
	handle("Create", func(r *http.Request) (any, error) {
		var req volume.CreateRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return struct{}{}, d.Create(&req)
	})
	handle("Remove", func(r *http.Request) (any, error) {
		var req volume.RemoveRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return struct{}{}, d.Remove(&req)
	})
	handle("Mount", func(r *http.Request) (any, error) {
		var req volume.MountRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return d.Mount(&req)
	})
	handle("Unmount", func(r *http.Request) (any, error) {
		var req volume.UnmountRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return struct{}{}, d.Unmount(&req)
	})
	handle("Path", func(r *http.Request) (any, error) {
		var req volume.PathRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return d.Path(&req)
	})
	handle("Get", func(r *http.Request) (any, error) {
		var req volume.GetRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return d.Get(&req)
	})
	handle("List", func(r *http.Request) (any, error) { return d.List() })
	handle("Capabilities", func(r *http.Request) (any, error) { return d.Capabilities(), nil })
}

// decode reads a request body; an empty body is an empty request (dockerd
// sends none for List and Capabilities).
func decode(r *http.Request, v any) error {
	err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(v)
	if err != nil && err.Error() != "EOF" {
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
