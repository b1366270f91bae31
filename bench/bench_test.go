package main

import (
	"context"
	"os"
	"testing"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/internal/testenv"
)

// TestMain lets the test binary serve as the memory workload's mount
// process, as the bench binary does.
func TestMain(m *testing.M) {
	runMountProcessIfAsked()
	os.Exit(m.Run())
}

// TestQuickBenchRuns is the bench's smoke test: every workload runs in quick
// mode and yields its rows with figures. It checks that the bench works, not
// how fast anything is: speed is judged by `make bench`, never by a test.
func TestQuickBenchRuns(t *testing.T) {
	testenv.NeedFUSE(t)
	testenv.NeedCommand(t, "find", "findutils")
	if testing.Short() {
		t.Skip("skipped in -short mode: the quick bench takes about half a minute")
	}
	cfg := runConfig{sizes: quickSizes, quick: true, memory: 256 << 20, goMemLimit: 256<<20 + bufpool.RuntimeMargin,
		want: func(string) bool { return true }}
	rep, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"1 sequential read": 1, "2 sequential write": 1, "3 first byte": 1,
		"4 random 256 KiB reads": 4, "5 small files": 2, "6 metadata": 5, "7 memory": 3,
	}
	got := map[string]int{}
	for _, r := range rep.Rows {
		got[r.Workload]++
		if r.S3vol <= 0 {
			t.Errorf("%s / %s: no figure through the mount", r.Workload, r.Metric)
		}
		if r.Workload != "7 memory" && r.Raw <= 0 {
			t.Errorf("%s / %s: no raw figure", r.Workload, r.Metric)
		}
	}
	for w, n := range want {
		if got[w] != n {
			t.Errorf("workload %q: %d rows, want %d", w, got[w], n)
		}
	}
	if t.Failed() {
		rep.print(testWriter{t})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
