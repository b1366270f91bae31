package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// hostIDFile keeps the generated host id in the state folder, so a restart
// (or a plugin upgrade) comes back as the same host and finds its leases.
const hostIDFile = "host-id"

// resolveHostID returns the configured host id, else the one kept in the
// state folder, else a new one (hostname + random suffix) that it keeps.
func (c *Config) resolveHostID() (string, error) {
	if c.HostID != "" {
		return c.HostID, nil
	}
	path := filepath.Join(c.StateDir, hostIDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if validName(id) == nil && id != "" {
			return id, nil
		}
		return "", fmt.Errorf("%s holds %q, which is not a host id: remove the file to get a new one, or set S3VOL_HOST_ID", path, id)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading the host id: %w", err)
	}
	id := newHostID()
	if err := writeFileAtomic(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("keeping the host id: %w", err)
	}
	return id, nil
}

func newHostID() string {
	host, _ := os.Hostname()
	var clean strings.Builder
	for _, r := range strings.ToLower(host) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			clean.WriteRune(r)
		}
	}
	name := strings.Trim(clean.String(), ".-")
	if name == "" {
		name = "host"
	}
	if len(name) > 48 {
		name = name[:48]
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	return name + "-" + hex.EncodeToString(suffix)
}

// writeFileAtomic writes path through a temporary file and a rename, so a
// crash never leaves half a file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
