package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

// adminRegistry opens a registry on a fresh local store.
func adminRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	reg, err := registry.New(registry.Config{Meta: st, Data: st, Prefix: "meta/", Org: "acme", HostID: "admin-test",
		Logger: logrus.NewEntry(log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

// admin runs one admin command line and returns its output.
func runAdminLine(t *testing.T, reg *registry.Registry, line string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := runAdmin(ctx, strings.Fields(line), reg, &out, io.Discard)
	return out.String(), err
}

func mustAdmin(t *testing.T, reg *registry.Registry, line string) string {
	t.Helper()
	out, err := runAdminLine(t, reg, line)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return out
}

func TestAdminVolumes(t *testing.T) {
	reg := adminRegistry(t)
	if out := mustAdmin(t, reg, "volume create -o uid=1000 -o mode=0700 --label team=web tenants"); out != "tenants\n" {
		t.Fatalf("create printed %q", out)
	}
	// Flags after the name work too; a repeat is idempotent and says so.
	if out := mustAdmin(t, reg, "volume create tenants -o mode=0700 -o uid=1000"); !strings.Contains(out, "already existed") {
		t.Fatalf("repeat create printed %q", out)
	}
	_, err := runAdminLine(t, reg, "volume create tenants -o uid=1")
	if !errors.Is(err, registry.ErrExists) || !strings.Contains(err.Error(), "uid is 1000 (asked 1)") {
		t.Fatalf("create with other options: %v", err)
	}
	mustAdmin(t, reg, "volume create alice -o volume=tenants -o subpath=users/alice -o ro")

	out := mustAdmin(t, reg, "volume ls")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") ||
		!strings.Contains(lines[1], "alice") || !strings.Contains(lines[1], "users/alice") ||
		!strings.Contains(lines[2], "tenants") || !strings.Contains(lines[2], "volume") {
		t.Fatalf("ls:\n%s", out)
	}
	var list []entryJSON
	if err := json.Unmarshal([]byte(mustAdmin(t, reg, "volume ls --json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].Name != "tenants" || list[1].Options.UID != 1000 || list[1].Labels["team"] != "web" ||
		list[0].Volume != "tenants" || !list[0].Options.ReadOnly {
		t.Fatalf("ls --json: %+v", list)
	}

	// inspect shows the mount leases.
	lease, err := reg.Acquire(context.Background(), "tenants")
	if err != nil {
		t.Fatal(err)
	}
	out = mustAdmin(t, reg, "volume inspect tenants")
	for _, want := range []string{"Name:", "tenants", "mode=0700", "team=web", "admin-test, 1 mount(s)", "Data prefix:  acme/"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect does not show %q:\n%s", want, out)
		}
	}
	var insp []entryJSON
	if err := json.Unmarshal([]byte(mustAdmin(t, reg, "volume inspect --json tenants alice")), &insp); err != nil {
		t.Fatal(err)
	}
	if len(insp) != 2 || len(insp[0].Leases) != 1 || insp[0].Leases[0].Host != "admin-test" {
		t.Fatalf("inspect --json: %+v", insp)
	}
	if _, err := runAdminLine(t, reg, "volume inspect nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("inspect missing: %v", err)
	}

	// rm: refused while views exist or while mounted, with the reason.
	if _, err := runAdminLine(t, reg, "volume rm tenants"); !errors.Is(err, registry.ErrInUse) || !strings.Contains(err.Error(), `"alice"`) {
		t.Fatalf("rm with a view: %v", err)
	}
	if out := mustAdmin(t, reg, "volume rm alice"); out != "alice\n" {
		t.Fatalf("rm printed %q", out)
	}
	if _, err := runAdminLine(t, reg, "volume rm tenants"); !errors.Is(err, registry.ErrInUse) || !strings.Contains(err.Error(), "admin-test") {
		t.Fatalf("rm while mounted: %v", err)
	}
	if err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustAdmin(t, reg, "volume rm tenants")
	if out := mustAdmin(t, reg, "volume ls"); strings.Count(out, "\n") != 1 {
		t.Fatalf("ls after rm:\n%s", out)
	}
}

func TestAdminOrgAndRepair(t *testing.T) {
	reg := adminRegistry(t)
	out := mustAdmin(t, reg, "org show")
	if !strings.Contains(out, "acme") || !strings.Contains(out, "100 (default)") {
		t.Fatalf("org show:\n%s", out)
	}
	mustAdmin(t, reg, "volume create a")
	out = mustAdmin(t, reg, "org set-limit 1")
	if !strings.Contains(out, "1 of 1 in use") {
		t.Fatalf("set-limit:\n%s", out)
	}
	_, err := runAdminLine(t, reg, "volume create b")
	if !errors.Is(err, registry.ErrLimitReached) || !strings.Contains(err.Error(), `organization "acme" has reached its limit of 1 volumes`) {
		t.Fatalf("create over the limit: %v", err)
	}
	var info registry.OrgInfo
	if err := json.Unmarshal([]byte(mustAdmin(t, reg, "org show --json")), &info); err != nil || info.Limit != 1 || !info.LimitSet || info.Used != 1 {
		t.Fatalf("org show --json: %+v %v", info, err)
	}
	if out := mustAdmin(t, reg, "repair"); out != "Nothing to repair.\n" {
		t.Fatalf("repair: %q", out)
	}
	var rep registry.RepairReport
	if err := json.Unmarshal([]byte(mustAdmin(t, reg, "repair --json")), &rep); err != nil || !rep.Empty() {
		t.Fatalf("repair --json: %+v %v", rep, err)
	}
}

func TestAdminUsageErrors(t *testing.T) {
	reg := adminRegistry(t)
	for line, want := range map[string]string{
		"":                          "no admin command",
		"volume":                    "give a subcommand",
		"volume frob":               `unknown subcommand "frob"`,
		"volume create":             "exactly one name",
		"volume create a b":         "exactly one name",
		"volume create -o bogus a":  `"bogus" is not key=value`,
		"volume inspect":            "at least one name",
		"volume rm":                 "at least one name",
		"volume ls --bogus":         "flag provided but not defined",
		"org":                       "give a subcommand",
		"org set-limit":             "give the new limit",
		"org set-limit lots":        `"lots" is not a number`,
		"org frob":                  `unknown subcommand "frob"`,
		"repair now":                "takes no arguments",
		"frob":                      `unknown admin command "frob"`,
		"volume create -o uid=-1 a": "", // a registry error, not a usage error
	} {
		_, err := runAdminLine(t, reg, line)
		var u usageError
		if want == "" {
			if err == nil || errors.As(err, &u) || !errors.Is(err, registry.ErrInvalid) {
				t.Errorf("%q: want a validation error, got %v", line, err)
			}
			continue
		}
		if !errors.As(err, &u) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "s3vol volume ls") {
			t.Errorf("%q: want a usage error saying %q with the usage text, got %v", line, want, err)
		}
	}
	// An unknown -o option lists the accepted ones.
	_, err := runAdminLine(t, reg, "volume create -o colour=red a")
	if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), "accepted options: volume=NAME") {
		t.Fatalf("unknown option: %v", err)
	}
}

// `s3vol volume rm` removes the data before it exits: the command closes
// its registry when it returns, which would cancel a purge still running
// in the background and leave the data until the next repair.
func TestAdminRmRemovesTheData(t *testing.T) {
	state := t.TempDir()
	t.Setenv("S3VOL_STATE_DIR", state)
	t.Setenv("S3VOL_ENDPOINT", "")
	t.Setenv("S3VOL_LOG_LEVEL", "error")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(ctx, args, &out, &errOut); err != nil {
			t.Fatalf("s3vol %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}
	cli("volume", "create", "v")
	var insp []entryJSON
	if err := json.Unmarshal([]byte(cli("volume", "inspect", "--json", "v")), &insp); err != nil || len(insp) != 1 {
		t.Fatalf("inspect: %+v %v", insp, err)
	}
	data, err := localstore.New(filepath.Join(state, "store", "s3vol"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		key := fmt.Sprintf("%sfile-%d", insp[0].DataPrefix, i)
		if _, err := data.Put(ctx, key, strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cli("volume", "rm", "v")
	var left []string
	for obj, err := range data.List(ctx, store.ListOptions{Prefix: insp[0].DataPrefix}) {
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, obj.Key)
	}
	if len(left) > 0 {
		t.Fatalf("%d keys of the removed volume are left after s3vol volume rm returned, e.g. %s", len(left), left[0])
	}
}

// Configuration flags work before or after the subcommand and its names,
// as the usage line (`s3vol volume ls|create|inspect|rm [flags] ...`) says.
func TestAdminConfigFlagsAnywhere(t *testing.T) {
	state := t.TempDir()
	t.Setenv("S3VOL_ENDPOINT", "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"volume", "create", "--state-dir", state, "--org", "acme", "-o", "uid=7", "v1"},
		{"volume", "--state-dir=" + state, "create", "v2", "--org", "acme", "--json"},
		{"volume", "ls", "--org=acme", "--log-level", "error", "--state-dir", state},
	} {
		var out, errOut bytes.Buffer
		if err := run(ctx, args, &out, &errOut); err != nil {
			t.Fatalf("s3vol %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		if args[1] == "ls" && (!strings.Contains(out.String(), "v1") || !strings.Contains(out.String(), "v2")) {
			t.Fatalf("ls in organization acme:\n%s", out.String())
		}
	}
}

// --json prints a mode as an octal string, as it is written with -o mode=
// (issue 19.9).
func TestAdminJSONModeIsOctal(t *testing.T) {
	reg := adminRegistry(t)
	mustAdmin(t, reg, "volume create -o mode=0750 v")
	mustAdmin(t, reg, "volume create w")
	for _, line := range []string{"volume ls --json", "volume inspect --json v w", "volume create --json v -o mode=0750"} {
		out := mustAdmin(t, reg, line)
		if !strings.Contains(out, `"mode": "0750"`) {
			t.Errorf("%s does not show mode 0750 as \"0750\":\n%s", line, out)
		}
		if line != "volume create --json v -o mode=0750" && !strings.Contains(out, `"mode": "0755"`) {
			t.Errorf("%s does not show the default mode as \"0755\":\n%s", line, out)
		}
	}
}

// Labels come from --label and from -o label.KEY=VALUE (the form the
// Docker plugin receives) alike, and inspect shows them (issue 19.8).
func TestAdminLabels(t *testing.T) {
	reg := adminRegistry(t)
	mustAdmin(t, reg, "volume create -o label.team=web --label env=prod v")
	out := mustAdmin(t, reg, "volume inspect v")
	if !strings.Contains(out, "Labels:       env=prod, team=web") {
		t.Errorf("inspect does not show both labels:\n%s", out)
	}
}

// `s3vol volume rm` of a volume whose holder died with its lease waits a
// lease TTL and a margin before it removes the data (a write of that
// holder may still land); it says so, with until when, as it waits, and
// says when the data is gone (issue 13, leftover of 6).
func TestVolumeRmSaysWhatItWaitsFor(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("S3VOL_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("S3VOL_LEASE_TTL", "5s")
	ctx := context.Background()
	var out, errs syncBuffer
	if err := run(ctx, []string{"volume", "create", "orphan"}, &out, &errs); err != nil {
		t.Fatalf("volume create: %v\n%s", err, errs.String())
	}
	// A process that dies holding a mount lease on it.
	cfg, _, err := parseConfig(newFlagSet("test", io.Discard), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, _, _, err := openRegistry(ctx, cfg, newLogger(io.Discard, logrus.InfoLevel), "dead")
	if err != nil {
		t.Fatal(err)
	}
	lease, err := reg.Acquire(ctx, "orphan")
	if err != nil {
		t.Fatal(err)
	}
	prefix := lease.Entry().DataPrefix
	reg.Close()
	storeDir := filepath.Join(dir, "state", "store", "s3vol")
	dataLeft := func() bool {
		for _, k := range localKeys(t, storeDir) {
			if strings.HasPrefix(k, prefix) {
				return true
			}
		}
		return false
	}
	if !dataLeft() {
		t.Fatalf("no data under %s to begin with", prefix)
	}

	var notes syncBuffer
	done := make(chan error, 1)
	go func() {
		for { // refused while the lease lives
			err := run(ctx, []string{"volume", "rm", "orphan"}, io.Discard, &notes)
			if err == nil || !strings.Contains(err.Error(), "in use") {
				done <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	waitUntil(t, time.Minute, "rm to say what it waits for", func() bool {
		return strings.Contains(notes.String(), `to remove the data of "orphan": a host's mount lease on it had expired`)
	})
	if !strings.Contains(notes.String(), "s3vol: waiting until ") || !dataLeft() {
		t.Fatalf("rm said %q, with the data left: %v; want it to say until when it waits, before the data goes", notes.String(), dataLeft())
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("volume rm: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("volume rm did not return within a minute")
	}
	if !strings.HasSuffix(notes.String(), "s3vol: data removed\n") || dataLeft() {
		t.Fatalf("after rm returned: it said %q, data left: %v", notes.String(), dataLeft())
	}
}

// TestAdminInspectShowsUsage: inspect shows the size the daemon's scan
// recorded, with the time it was measured, and says when none was.
func TestAdminInspectShowsUsage(t *testing.T) {
	reg := adminRegistry(t)
	mustAdmin(t, reg, "volume create data")
	if out := mustAdmin(t, reg, "volume inspect data"); !strings.Contains(out, "Size:") || !strings.Contains(out, "not measured yet") {
		t.Fatalf("inspect before any measurement:\n%s", out)
	}
	e, err := reg.Get(context.Background(), "data")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 20, 15, 0, 0, time.UTC)
	if err := reg.SaveUsage(context.Background(), e.ID, registry.Usage{Bytes: 3 << 20, Objects: 3, MeasuredAt: at}); err != nil {
		t.Fatal(err)
	}
	if out := mustAdmin(t, reg, "volume inspect data"); !strings.Contains(out, "3.0 MiB in 3 objects (measured 2026-12-06T20:15:00Z)") {
		t.Fatalf("inspect after a measurement:\n%s", out)
	}
	out := mustAdmin(t, reg, "volume inspect --json data")
	var got []entryJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 || got[0].Usage == nil ||
		got[0].Usage.Bytes != 3<<20 || !got[0].Usage.MeasuredAt.Equal(at) {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
}
