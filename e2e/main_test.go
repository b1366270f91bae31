// Package e2e tests s3vol end to end: the s3vol binary (built here) serving
// as a legacy Docker plugin, a real dockerd (internal/dockertest) driven by
// the real docker CLI and docker-compose, over a real MinIO
// (internal/miniotest). Each test starts its own plugin daemons under a
// driver name unique to the test, on a fresh bucket.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/dockertest"
	"github.com/s3vol/s3vol/internal/miniotest"
)

// binary is the s3vol binary TestMain builds.
var binary string

func TestMain(m *testing.M) {
	// The plugin sockets the tests serve in /run/docker/plugins must reach
	// the test engines only, never the host's Docker.
	dockertest.Isolate()
	dir, err := os.MkdirTemp("", "s3vol-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "s3vol")
	if err := build(binary); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// Tests stop their plugins and remove their containers in their own
	// clean-ups; then MinIO stops (miniotest.Main), then dockerd.
	code := miniotest.Main(m)
	if err := dockertest.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		if code == 0 {
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles ./plugin into path.
func build(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-o", path}
	if raceEnabled {
		// Under go test -race the daemon runs with the race detector too;
		// a race makes it exit non-zero, which stop reports.
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./plugin")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./plugin: %v\n%s", err, out)
	}
	return nil
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the s3vol module")
	}
	return filepath.Dir(mod), nil
}
