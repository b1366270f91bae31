package authz

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// createBody is the part of a container-create body (Docker Engine API
// ContainerCreateRequest) that says where volumes are mounted.
type createBody struct {
	// Volumes are the container paths of anonymous volumes (docker run -v
	// /path); older clients also list the destinations of binds here.
	Volumes    map[string]json.RawMessage `json:"Volumes"`
	HostConfig *hostConfig                `json:"HostConfig"`
}

// hostConfig is the part of a HostConfig that mounts volumes.
type hostConfig struct {
	Binds        []string    `json:"Binds"`
	Mounts       []mountSpec `json:"Mounts"`
	VolumeDriver string      `json:"VolumeDriver"`
}

// mountSpec is one entry of HostConfig.Mounts (docker run --mount).
type mountSpec struct {
	Type          string `json:"Type"`
	Source        string `json:"Source"`
	Target        string `json:"Target"`
	VolumeOptions *struct {
		DriverConfig *struct {
			Name string `json:"Name"`
		} `json:"DriverConfig"`
	} `json:"VolumeOptions"`
}

// volumeMount is one volume a container-create request mounts.
type volumeMount struct {
	Name   string // the volume's name; empty for an anonymous volume
	Target string // the container path, as the client wrote it
	// Driver is the driver the request names for this mount: DriverConfig
	// for --mount, HostConfig.VolumeDriver for -v and anonymous volumes.
	Driver string
	Origin string // where in the request it was found, for logs
}

// volumeMounts lists the volume mounts of a container-create body. Bind
// mounts, tmpfs and the like are left out: the policy is only about
// volumes. Binds entries too malformed to read are skipped: dockerd refuses
// them itself, with its own message.
func volumeMounts(body []byte) ([]volumeMount, error) {
	var b createBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("decoding the container-create body: %w", err)
	}
	return mountsOf(b.HostConfig, b.Volumes), nil
}

// legacyStartMounts lists the volume mounts of a container-start body of
// API version 1.23 or older, which is a bare HostConfig.
func legacyStartMounts(body []byte) ([]volumeMount, error) {
	var hc hostConfig
	if err := json.Unmarshal(body, &hc); err != nil {
		return nil, fmt.Errorf("decoding the container-start HostConfig: %w", err)
	}
	return mountsOf(&hc, nil), nil
}

func mountsOf(hc *hostConfig, anonymous map[string]json.RawMessage) []volumeMount {
	var out []volumeMount
	mounted := map[string]bool{} // cleaned destinations of binds and mounts
	volumeDriver := ""
	if hc != nil {
		volumeDriver = hc.VolumeDriver
		for _, spec := range hc.Binds {
			if m, ok := parseBind(spec, hc.VolumeDriver); ok {
				out = append(out, m)
			}
			if dst, ok := bindDestination(spec); ok {
				mounted[path.Clean(dst)] = true
			}
		}
		for _, ms := range hc.Mounts {
			mounted[path.Clean(ms.Target)] = true
			if strings.EqualFold(ms.Type, "volume") {
				out = append(out, volumeMount{Name: ms.Source, Target: ms.Target, Driver: ms.driver(), Origin: "HostConfig.Mounts"})
			}
		}
	}
	// Like dockerd, make an anonymous volume only for a path nothing else
	// is mounted at; it uses HostConfig.VolumeDriver.
	for target := range anonymous {
		if !mounted[path.Clean(target)] {
			out = append(out, volumeMount{Target: target, Driver: volumeDriver, Origin: "Volumes"})
		}
	}
	return out
}

func (m mountSpec) driver() string {
	if m.VolumeOptions == nil || m.VolumeOptions.DriverConfig == nil {
		return ""
	}
	return m.VolumeOptions.DriverConfig.Name
}

// parseBind reads a HostConfig.Binds entry the way dockerd's Linux parser
// does: "dst" (an anonymous volume), "src:dst" or "src:dst:options"; a
// source that is not an absolute path names a volume, an absolute one is a
// bind mount of a host path (not a volume).
func parseBind(spec, volumeDriver string) (volumeMount, bool) {
	parts := strings.Split(spec, ":")
	m := volumeMount{Driver: volumeDriver, Origin: "HostConfig.Binds"}
	switch len(parts) {
	case 1:
		m.Target = parts[0]
	case 2, 3:
		if parts[0] == "" || strings.HasPrefix(parts[0], "/") {
			return volumeMount{}, false
		}
		m.Name, m.Target = parts[0], parts[1]
	default:
		return volumeMount{}, false
	}
	return m, m.Target != ""
}

// bindDestination is the container path of any Binds entry, volume or not.
func bindDestination(spec string) (string, bool) {
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 1:
		return parts[0], true
	case 2, 3:
		return parts[1], true
	}
	return "", false
}
