package localstore_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

// The helper process: tests re-run this test binary with
// S3VOL_LOCALSTORE_HELPER set to act as a second process on a store.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("S3VOL_LOCALSTORE_HELPER")
	if mode == "" {
		return // not a helper run
	}
	s, err := localstore.New(os.Getenv("S3VOL_DIR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	switch mode {
	case "increment":
		n, _ := strconv.Atoi(os.Getenv("S3VOL_N"))
		for range n {
			if err := increment(ctx, s, "counter"); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	case "hang-put":
		// Write 1 MiB, say so, then block until killed.
		r := io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), &announceThenBlock{})
		s.Put(ctx, "crashed", r, -1, store.PutOptions{})
	}
	os.Exit(0)
}

type announceThenBlock struct{}

func (*announceThenBlock) Read([]byte) (int, error) {
	fmt.Println("writing")
	select {}
}

// helper starts this test binary as a helper process on dir.
func helper(t *testing.T, mode, dir string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "S3VOL_LOCALSTORE_HELPER="+mode, "S3VOL_DIR="+dir)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// increment adds one to a counter object with compare-and-swap, retrying
// when another writer won.
func increment(ctx context.Context, s store.Store, key string) error {
	for {
		rc, o, err := s.Get(ctx, key, store.GetOptions{})
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(string(b))
		if err != nil {
			return fmt.Errorf("counter holds %q", b)
		}
		next := strconv.Itoa(n + 1)
		_, err = s.Put(ctx, key, strings.NewReader(next), int64(len(next)), store.PutOptions{IfMatch: o.ETag})
		if !errors.Is(err, store.ErrPreconditionFailed) {
			return err
		}
	}
}

// Two Store values on one folder race create-only writes: the lock must
// work between them, not just between goroutines of one Store.
func TestTwoStoresRaceCreate(t *testing.T) {
	dir := t.TempDir()
	stores := []*localstore.Store{newStoreIn(t, dir), newStoreIn(t, dir)}
	ctx := context.Background()
	for round := range 20 {
		key := fmt.Sprintf("k/%d", round)
		var wins, losses int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := stores[i%2].Put(ctx, key, strings.NewReader(key), int64(len(key)), store.PutOptions{IfNoneMatch: true})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrPreconditionFailed):
					losses++
				default:
					t.Errorf("put: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || losses != 15 {
			t.Fatalf("round %d: %d wins and %d losses, want 1 and 15", round, wins, losses)
		}
	}
}

// Several processes and two in-process Stores increment one counter: no
// update may be lost across processes.
func TestProcessesRaceCAS(t *testing.T) {
	dir := t.TempDir()
	a, b := newStoreIn(t, dir), newStoreIn(t, dir)
	ctx := context.Background()
	if _, err := a.Put(ctx, "counter", strings.NewReader("0"), 1, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	const procs, each = 3, 30
	var cmds []*exec.Cmd
	for range procs {
		cmd := helper(t, "increment", dir, "S3VOL_N="+strconv.Itoa(each))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	var wg sync.WaitGroup
	for _, s := range []*localstore.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := increment(ctx, s, "counter"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper process: %v", err)
		}
	}
	rc, _, err := a.Get(ctx, "counter", store.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if want := strconv.Itoa((procs + 2) * each); string(got) != want {
		t.Fatalf("counter is %s, want %s: updates were lost", got, want)
	}
}

// A writer killed in the middle of a Put leaves a temp file: the object
// must not be visible, and a later New removes the file once it is stale.
func TestCrashedPutIsInvisible(t *testing.T) {
	dir := t.TempDir()
	s := newStoreIn(t, dir)
	cmd := helper(t, "hang-put", dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "writing\n" {
		cmd.Process.Kill()
		t.Fatalf("helper did not start writing: %q %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	ctx := context.Background()
	_, err = s.Stat(ctx, "crashed")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stat of the crashed object: %v, want not found", err)
	}
	for o, err := range s.List(ctx, store.ListOptions{}) {
		t.Fatalf("listing after the crash returned %+v %v", o, err)
	}
	temps := tempFiles(t, dir)
	if len(temps) != 1 {
		t.Fatalf("want the crashed writer's temp file left behind, found %q", temps)
	}
	// A fresh temp file survives New: it may be another process's write.
	newStoreIn(t, dir)
	if got := tempFiles(t, dir); len(got) != 1 {
		t.Fatalf("New removed a recent temp file: %q left", got)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(dir+"/tmp/"+temps[0], old, old); err != nil {
		t.Fatal(err)
	}
	newStoreIn(t, dir)
	if got := tempFiles(t, dir); len(got) != 0 {
		t.Fatalf("New left the stale temp file: %q", got)
	}
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir + "/tmp")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
