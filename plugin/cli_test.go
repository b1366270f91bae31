package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// Flags go anywhere on the line: before the command, between the command
// and its subcommand, and after the names (issue 19.2).
func TestFlagsAnywhereOnTheLine(t *testing.T) {
	state := t.TempDir()
	t.Setenv("S3VOL_ENDPOINT", "")
	t.Setenv("S3VOL_LOG_LEVEL", "error")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"--state-dir", state, "--org", "acme", "volume", "create", "-o", "uid=7", "v1"},    // before the command
		{"--state-dir=" + state, "-o", "mode=0700", "volume", "create", "v2", "--org=acme"}, // a command's flag before it
		{"volume", "--state-dir", state, "--json", "create", "--org", "acme", "v3"},         // between command and subcommand
		{"volume", "create", "v4", "--org", "acme", "--state-dir", state},                   // after the name
		{"org", "--json", "--state-dir", state, "--org", "acme", "show"},
	} {
		var out, errOut bytes.Buffer
		if err := run(ctx, args, &out, &errOut); err != nil {
			t.Fatalf("s3vol %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"--json", "--org", "acme", "--state-dir", state, "volume", "ls"}, &out, &errOut); err != nil {
		t.Fatalf("ls: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{`"name": "v1"`, `"name": "v2"`, `"name": "v3"`, `"name": "v4"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("volume ls --json in organization acme does not show %s:\n%s", want, out.String())
		}
	}
}

// The commands that do not reach the store show that their flags were
// read wherever they stand: a bad value is refused with its setting's name.
func TestFlagsAnywhereForServeAndMount(t *testing.T) {
	// Should serve ever start here, it starts in folders of the test's own
	// and stops at once.
	tmp := t.TempDir()
	t.Setenv("S3VOL_SOCKET", tmp+"/s3vol.sock")
	t.Setenv("S3VOL_STATE_DIR", tmp)
	t.Setenv("S3VOL_MOUNT_ROOT", tmp+"/mounts")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-level", "loud", "serve"}, "S3VOL_LOG_LEVEL"},
		{[]string{"serve", "--log-level", "loud"}, "S3VOL_LOG_LEVEL"},
		{[]string{"serve", "now"}, "s3vol serve takes no arguments"},
		{[]string{"--subpath", "../x", "mount", "v", "/tmp"}, `invalid subpath "../x"`},
		{[]string{"mount", "v", "/tmp", "--subpath", "../x"}, `invalid subpath "../x"`},
		{[]string{"mount", "--ro", "v", "--subpath=../x", "/tmp"}, `invalid subpath "../x"`},
		{[]string{"--endpoint", "x"}, "no command given"},
	} {
		var out, errOut bytes.Buffer
		err := run(ctx, tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("s3vol %s: want an error saying %q, got %v", strings.Join(tc.args, " "), tc.want, err)
		}
	}
	// The top-level help and version flags still work.
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"--org", "acme", "help"}} {
		var out, errOut bytes.Buffer
		if err := run(ctx, args, &out, &errOut); err != nil || !strings.Contains(out.String(), "Usage:") {
			t.Errorf("s3vol %s: %v %q", strings.Join(args, " "), err, out.String())
		}
	}
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"--org", "acme", "help", "mount"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "-subpath") {
		t.Errorf("s3vol --org acme help mount: %v %q", err, out.String())
	}
	out.Reset()
	// help of an admin command shows its own flags too.
	if err := run(ctx, []string{"help", "volume"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "--label key=value") || !strings.Contains(out.String(), "-endpoint") {
		t.Errorf("s3vol help volume: %v %q", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"--version"}, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "s3vol ") {
		t.Errorf("s3vol --version: %v %q", err, out.String())
	}
}
