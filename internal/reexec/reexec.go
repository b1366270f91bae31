// Package reexec runs a part of a program in a child process of its own:
// the program starts its own binary again, with the child's spec (JSON) in
// an environment variable, which keeps keys out of the process list. The
// child says "ready" on stdout once it serves, answers each command line
// on stdin with one JSON line, and ends when its stdin closes. The bench
// runs the filesystem so (measured apart from its clients), and the soak
// (killed with SIGKILL, as a crash would).
package reexec

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// readyLine is what a child prints once it serves.
const readyLine = "ready\n"

// How long a child may take to say it is ready, and to stop.
const (
	readyTimeout = time.Minute
	stopTimeout  = 3 * time.Minute
)

// RunChildIfAsked decodes the spec in the environment variable env and
// runs serve with it, then exits, when this process was started as a
// child; it returns at once otherwise. what names the child in errors.
func RunChildIfAsked[Spec any](env, what string, serve func(Spec) error) {
	v := os.Getenv(env)
	if v == "" {
		return
	}
	var spec Spec
	if err := json.Unmarshal([]byte(v), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "%s: decoding %s: %v\n", what, env, err)
		os.Exit(2)
	}
	if err := serve(spec); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Ready tells the parent that the child serves.
func Ready() { io.WriteString(os.Stdout, readyLine) }

// Answer answers the parent's command lines on stdin until it closes, each
// with the JSON of what answers[command] returns (unknown commands get no
// answer), then calls stop.
func Answer(answers map[string]func() any, stop func()) {
	defer stop()
	sc := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		if answer := answers[sc.Text()]; answer != nil {
			if err := out.Encode(answer()); err != nil {
				return
			}
		}
	}
}

// Child is a running child, seen from its parent.
type Child struct {
	what  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// Start starts this binary again as a child with spec in the environment
// variable env and waits, until ctx ends or a minute has passed, for it to
// say it is ready. The child is killed if the parent dies. what names it in
// errors ("the mount process").
func Start(ctx context.Context, env, what string, spec any) (*Child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program's own binary: %w", err)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encoding the spec of %s: %w", what, err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), env+"="+string(js))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", what, err)
	}
	c := &Child{what: what, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	ready := make(chan error, 1)
	go func() {
		line, err := c.out.ReadString('\n')
		if err == nil && line != readyLine {
			err = fmt.Errorf("unexpected %q", line)
		}
		ready <- err
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case err := <-ready:
		if err == nil {
			return c, nil
		}
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s failed to start (%v): %w", what, err, cmd.Wait())
	case <-timer.C:
		err = fmt.Errorf("%s was not ready within %v", what, readyTimeout)
	case <-ctx.Done():
		err = fmt.Errorf("waiting for %s: %w", what, ctx.Err())
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, err
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Ask sends command and decodes the child's answer into reply, waiting at
// most timeout. After a timeout the child's output is in an unknown state:
// kill it.
func (c *Child) Ask(command string, reply any, timeout time.Duration) error {
	if _, err := io.WriteString(c.stdin, command+"\n"); err != nil {
		return fmt.Errorf("asking %s for %s: %w", c.what, command, err)
	}
	got := make(chan error, 1)
	go func() {
		line, err := c.out.ReadBytes('\n')
		if err == nil {
			if err = json.Unmarshal(line, reply); err != nil {
				err = fmt.Errorf("decoding %q: %w", line, err)
			}
		}
		got <- err
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-got:
		if err != nil {
			return fmt.Errorf("reading the %s of %s: %w", command, c.what, err)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("%s did not answer %s within %v", c.what, command, timeout)
	}
}

// ErrKilled says Stop killed a child that did not end in time.
var ErrKilled = errors.New("killed")

// Stop closes the child's stdin, which asks it to end cleanly, and waits
// for it, killing it after three minutes (ErrKilled).
func (c *Child) Stop() error {
	c.stdin.Close()
	done := make(chan error, 1)
	go func() {
		io.Copy(io.Discard, c.out)
		done <- c.cmd.Wait()
	}()
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", c.what, err)
		}
		return nil
	case <-timer.C:
		c.cmd.Process.Kill()
		<-done
		return fmt.Errorf("%s did not stop within %v: %w", c.what, stopTimeout, ErrKilled)
	}
}

// Kill ends the child with SIGKILL, as a crash would, and waits for it.
func (c *Child) Kill() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
}
