package miniotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// MinIOModule is the MinIO release the harness builds: pinned, so every
// machine tests against the same server.
const MinIOModule = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

// CacheDir is where the harness keeps what it builds: $S3VOL_CACHE, else
// ~/.cache/s3vol.
func CacheDir() (string, error) {
	if dir := os.Getenv("S3VOL_CACHE"); dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache folder (set S3VOL_CACHE): %w", err)
	}
	return filepath.Join(home, ".cache", "s3vol"), nil
}

// BinaryPath is where the MinIO binary is expected: $S3VOL_MINIO_BIN, else
// <cache>/minio-bin/minio.
func BinaryPath() (string, error) {
	if bin := os.Getenv("S3VOL_MINIO_BIN"); bin != "" {
		return bin, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "minio-bin", "minio"), nil
}

// EnsureBinary returns the path of the MinIO binary, building it with
// `go install` first when it is missing. The build takes minutes; its
// output goes to log. A file lock keeps parallel test processes from
// building it twice.
func EnsureBinary(ctx context.Context, log io.Writer) (string, error) {
	bin, err := BinaryPath()
	if err != nil {
		return "", err
	}
	if isExecutable(bin) {
		return bin, nil
	}
	if os.Getenv("S3VOL_MINIO_BIN") != "" {
		return "", fmt.Errorf("S3VOL_MINIO_BIN=%s is not an executable file: point it at a MinIO server binary or unset it to let the harness build one", bin)
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating the MinIO build folder: %w", err)
	}
	unlock, err := lockFile(filepath.Join(dir, ".build.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(bin) { // another process built it while we waited
		return bin, nil
	}
	fmt.Fprintf(log, "miniotest: building %s into %s (takes a few minutes, once)\n", MinIOModule, dir)
	cmd := exec.CommandContext(ctx, "go", "install", MinIOModule)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building MinIO (go install %s): %w", MinIOModule, err)
	}
	if !isExecutable(bin) {
		return "", fmt.Errorf("go install %s succeeded but %s is missing", MinIOModule, bin)
	}
	return bin, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// lockFile takes an exclusive flock on path; the lock goes with the
// process if it dies.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the build lock: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
