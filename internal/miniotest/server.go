// Package miniotest gives tests and tools a real MinIO server: it builds the
// pinned MinIO release once into a cache folder, starts it on 127.0.0.1 on a
// free port with its own data folder and random root credentials, and stops
// it at the end. Tests may point at an existing endpoint instead through
// S3VOL_TEST_ENDPOINT (see Shared).
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// How long a server may take to come up or go down.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
)

// Server is a MinIO server (or an external S3 endpoint) for tests.
type Server struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Region    string
	Secure    bool // the endpoint speaks TLS (external endpoints only)

	external bool   // not ours: cannot be stopped or restarted
	bin      string // MinIO binary
	dir      string // holds data/ and minio.log
	ownsDir  bool   // Close removes dir

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exits
}

// Start builds MinIO if needed and starts it on a free port of 127.0.0.1,
// keeping its data and log under dir (a new temporary folder when dir is
// ""). Close stops it and removes a temporary dir.
func Start(ctx context.Context, dir string) (*Server, error) {
	bin, err := EnsureBinary(ctx, os.Stderr)
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: dir, Region: "us-east-1",
		AccessKey: "s3vol-" + randomHex(6), SecretKey: randomHex(20)}
	if dir == "" {
		if s.dir, err = os.MkdirTemp("", "s3vol-minio-"); err != nil {
			return nil, fmt.Errorf("creating MinIO's data folder: %w", err)
		}
		s.ownsDir = true
	}
	port, err := freePort()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Endpoint = net.JoinHostPort("127.0.0.1", port)
	if err := s.Start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Start (re)starts a stopped server on the same port and data folder, and
// waits until it serves requests.
func (s *Server) Start(ctx context.Context) error {
	if s.external {
		return errors.New("miniotest: cannot start an external endpoint")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	logf, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening MinIO's log: %w", err)
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.Endpoint, filepath.Join(s.dir, "data"))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_REGION="+s.Region, "MINIO_BROWSER=off", "MINIO_UPDATE=off")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Die with the test process, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting MinIO (%s): %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	if err := s.waitReady(ctx, done); err != nil {
		s.stopLocked()
		return fmt.Errorf("%w (MinIO's log: %s)", err, s.LogPath())
	}
	return nil
}

// waitReady polls MinIO's liveness endpoint until it answers 200.
func (s *Server) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	url := "http://" + s.Endpoint + "/minio/health/live"
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("MinIO exited before it was ready on %s", s.Endpoint)
		case <-ctx.Done():
			return fmt.Errorf("MinIO not ready on %s: %w", s.Endpoint, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops the server and keeps its data, so Start can bring it back:
// tests use it to make the store vanish mid-operation.
func (s *Server) Stop() error {
	if s.external {
		return errors.New("miniotest: cannot stop an external endpoint")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd, s.done = nil, nil
	cmd.Process.Signal(syscall.SIGTERM)
	syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT) // a paused server must see the SIGTERM
	select {
	case <-done:
	case <-time.After(stopTimeout):
		cmd.Process.Kill()
		<-done
	}
	return nil
}

// Pause stops the server's processes with SIGSTOP: connections stay open
// and requests get no answer, as from a store that hangs (not one that
// refuses). Resume lets it go on.
//
// It returns once every thread of the server is stopped: SIGSTOP takes
// effect asynchronously, and a request sent in between would still be
// answered.
func (s *Server) Pause() error {
	if err := s.signalGroup(syscall.SIGSTOP); err != nil {
		return err
	}
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !allThreadsStopped(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("miniotest: MinIO (pid %d) was not stopped 10 s after SIGSTOP", pid)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// allThreadsStopped reports whether every thread of process pid is in the
// stopped state ("T" in /proc/PID/task/TID/stat).
func allThreadsStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		// The state follows the command, which is in parentheses and may
		// hold blanks: "TID (comm) S ...".
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Resume continues a server stopped by Pause.
func (s *Server) Resume() error { return s.signalGroup(syscall.SIGCONT) }

// signalGroup sends sig to the server's process group.
func (s *Server) signalGroup(sig syscall.Signal) error {
	if s.external {
		return errors.New("miniotest: cannot signal an external endpoint")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("miniotest: the server is not running")
	}
	if err := syscall.Kill(-s.cmd.Process.Pid, sig); err != nil {
		return fmt.Errorf("miniotest: sending %v to MinIO: %w", sig, err)
	}
	return nil
}

// Close stops the server for good and removes a data folder Start created.
func (s *Server) Close() error {
	if s.external {
		return nil
	}
	s.Stop()
	if s.ownsDir {
		if err := os.RemoveAll(s.dir); err != nil {
			return fmt.Errorf("removing MinIO's data folder: %w", err)
		}
	}
	return nil
}

// URL is the endpoint as a URL, e.g. "http://127.0.0.1:39000".
func (s *Server) URL() string {
	if s.Secure {
		return "https://" + s.Endpoint
	}
	return "http://" + s.Endpoint
}

// LogPath is the file MinIO writes its output to.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "minio.log") }

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port for MinIO: %w", err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
