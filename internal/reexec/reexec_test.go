package reexec

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

const testEnv = "S3VOL_REEXEC_TEST_CHILD"

type testSpec struct {
	Greeting string
	Fail     bool // fail before saying ready
}

func TestMain(m *testing.M) {
	RunChildIfAsked(testEnv, "test child", serveTest)
	os.Exit(m.Run())
}

// serveTest is the child: it answers "greeting" and "pid" until stdin
// closes.
func serveTest(spec testSpec) error {
	if spec.Fail {
		return errors.New("asked to fail")
	}
	Ready()
	stopped := make(chan struct{})
	Answer(map[string]func() any{
		"greeting": func() any { return spec.Greeting },
		"pid":      func() any { return os.Getpid() },
	}, func() { close(stopped) })
	<-stopped
	return nil
}

func TestChildRoundTrip(t *testing.T) {
	c, err := Start(context.Background(), testEnv, "the test child", testSpec{Greeting: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	var greeting string
	if err := c.Ask("greeting", &greeting, time.Minute); err != nil || greeting != "hello" {
		t.Fatalf("greeting %q, %v; want hello from the spec", greeting, err)
	}
	var pid int
	if err := c.Ask("pid", &pid, time.Minute); err != nil || pid != c.Pid() {
		t.Fatalf("the child says its pid is %d (%v); Pid says %d", pid, err, c.Pid())
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("a clean stop: %v", err)
	}
}

func TestChildFailsBeforeReady(t *testing.T) {
	_, err := Start(context.Background(), testEnv, "the test child", testSpec{Fail: true})
	if err == nil || !strings.Contains(err.Error(), "the test child failed to start") || !strings.Contains(err.Error(), "exit status 1") {
		t.Fatalf("start of a child that fails: %v", err)
	}
}

func TestChildKilled(t *testing.T) {
	c, err := Start(context.Background(), testEnv, "the test child", testSpec{})
	if err != nil {
		t.Fatal(err)
	}
	c.Kill()
	var s string
	if err := c.Ask("greeting", &s, time.Minute); err == nil {
		t.Fatal("a killed child answered")
	}
}
