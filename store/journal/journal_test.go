package journal

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
	"github.com/s3vol/s3vol/store/localstore"
)

const ident = "local:test"

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newLocal(t *testing.T, dir string) *localstore.Store {
	t.Helper()
	st, err := localstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(os.Stderr)
	l.SetLevel(logrus.WarnLevel)
	return l
}

// pending counts the unfinished uploads in st (without aborting them: a
// cut-off age no upload can have).
func pending(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "uploads"))
	if err != nil {
		t.Fatalf("reading the local store's uploads: %v", err)
	}
	return len(entries)
}

// startUpload starts an upload of key through s with one part.
func startUpload(t *testing.T, s store.Store, key string) store.Multipart {
	t.Helper()
	mp, err := s.NewMultipart(ctxT(t), key, store.PutOptions{})
	if err != nil {
		t.Fatalf("new multipart %s: %v", key, err)
	}
	if err := mp.UploadPart(ctxT(t), 1, strings.NewReader("part"), 4); err != nil {
		t.Fatalf("upload part: %v", err)
	}
	return mp
}

// die releases a journal's lock the way the death of its process does,
// without any of Close's bookkeeping.
func die(s *Store) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.file.Close()
	s.closed = true
}

func journals(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The uploads a dead process left open are aborted; those it completed or
// aborted are left alone, and its journal goes.
func TestRecoverAbortsOnlyOpenUploads(t *testing.T) {
	storeDir, jdir := t.TempDir(), t.TempDir()
	st := newLocal(t, storeDir)
	j, err := Open(jdir, ident, st, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	// Held to the end: a dropped upload would be aborted by the GC.
	lost := []store.Multipart{startUpload(t, j, "v/lost1"), startUpload(t, j, "v/lost2")}
	defer runtime.KeepAlive(lost)
	done := startUpload(t, j, "v/done")
	if _, err := done.Complete(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := startUpload(t, j, "v/aborted").Abort(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n := pending(t, storeDir); n != 2 {
		t.Fatalf("%d uploads pending, want the 2 lost ones", n)
	}
	// While its process lives the journal is not touched.
	if n, err := Recover(ctxT(t), jdir, ident, st, quietLog()); err != nil || n != 0 {
		t.Fatalf("Recover of a live process's journal: %d aborted, %v", n, err)
	}
	die(j)
	n, err := Recover(ctxT(t), jdir, ident, st, quietLog())
	if err != nil || n != 2 {
		t.Fatalf("Recover after the process died: %d aborted, %v; want 2", n, err)
	}
	if n := pending(t, storeDir); n != 0 {
		t.Fatalf("%d uploads still pending after Recover", n)
	}
	if _, err := st.Stat(ctxT(t), "v/done"); err != nil {
		t.Fatalf("the completed upload's object: %v", err)
	}
	if left := journals(t, jdir); len(left) != 0 {
		t.Fatalf("journals left after Recover: %v", left)
	}
}

// A journal of another store is not recovered against this one.
func TestRecoverSkipsOtherStores(t *testing.T) {
	storeDir, jdir := t.TempDir(), t.TempDir()
	st := newLocal(t, storeDir)
	j, err := Open(jdir, "s3://other-bucket", st, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	kept := startUpload(t, j, "v/x")
	defer runtime.KeepAlive(kept)
	die(j)
	if n, err := Recover(ctxT(t), jdir, ident, st, quietLog()); err != nil || n != 0 {
		t.Fatalf("Recover of another store's journal: %d aborted, %v", n, err)
	}
	if pending(t, storeDir) != 1 || len(journals(t, jdir)) != 1 {
		t.Fatal("another store's journal or upload was touched")
	}
}

// A clean Close leaves no journal; a Close with an upload still open keeps
// it for the next start, which aborts the upload.
func TestCloseKeepsOpenUploads(t *testing.T) {
	storeDir, jdir := t.TempDir(), t.TempDir()
	st := newLocal(t, storeDir)
	j, err := Open(jdir, ident, st, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	mp := startUpload(t, j, "v/a")
	if _, err := mp.Complete(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if left := journals(t, jdir); len(left) != 0 {
		t.Fatalf("a clean Close left %v", left)
	}

	j, err = Open(jdir, ident, st, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	kept := startUpload(t, j, "v/b")
	defer runtime.KeepAlive(kept)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := Recover(ctxT(t), jdir, ident, st, quietLog()); err != nil || n != 1 {
		t.Fatalf("Recover after a Close with an open upload: %d aborted, %v; want 1", n, err)
	}
}

// An upload its writer dropped without completing or aborting it is
// aborted once it is garbage collected, while the process lives.
func TestDroppedUploadAborted(t *testing.T) {
	storeDir, jdir := t.TempDir(), t.TempDir()
	st := newLocal(t, storeDir)
	j, err := Open(jdir, ident, st, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	func() { startUpload(t, j, "v/dropped") }()
	kept := startUpload(t, j, "v/kept")
	deadline := time.Now().Add(time.Minute)
	for pending(t, storeDir) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d uploads pending a minute after one was dropped, want only the kept one", pending(t, storeDir))
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := kept.Complete(ctxT(t)); err != nil {
		t.Fatalf("the upload still held was aborted too: %v", err)
	}
}

// A process killed with SIGKILL keeps nothing: its uploads are aborted by
// the next Recover, and not before it died.
func TestRecoverAfterKill(t *testing.T) {
	storeDir, jdir := t.TempDir(), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "JOURNAL_HELPER=1", "JOURNAL_STORE="+storeDir, "JOURNAL_DIR="+jdir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // held open: the helper waits on it
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("helper: %q, %v", line, err)
	}
	st := newLocal(t, storeDir)
	if n, err := Recover(ctxT(t), jdir, ident, st, quietLog()); err != nil || n != 0 || pending(t, storeDir) != 1 {
		t.Fatalf("Recover while the helper lives: %d aborted, %v, %d pending; want its upload left alone", n, err, pending(t, storeDir))
	}
	cmd.Process.Kill()
	cmd.Wait()
	if n, err := Recover(ctxT(t), jdir, ident, st, quietLog()); err != nil || n != 1 {
		t.Fatalf("Recover after the helper was killed: %d aborted, %v; want 1", n, err)
	}
	if n := pending(t, storeDir); n != 0 {
		t.Fatalf("%d uploads pending after Recover", n)
	}
}

// TestHelperProcess is the process TestRecoverAfterKill kills: it starts
// an upload through a journal and waits.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("JOURNAL_HELPER") != "1" {
		t.Skip("helper for TestRecoverAfterKill")
	}
	st := newLocal(t, os.Getenv("JOURNAL_STORE"))
	j, err := Open(os.Getenv("JOURNAL_DIR"), ident, st, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	mp := startUpload(t, j, "v/big")
	os.Stdout.WriteString("ready\n")
	bufio.NewReader(os.Stdin).ReadString('\n') // until killed
	mp.Abort(ctxT(t))
}

// An upload the journal cannot record is aborted, and that abort is
// bounded: with the store hanging, NewMultipart still returns (with the
// journal's error) instead of blocking its caller's write for good.
func TestUnjournaledUploadAbortIsBounded(t *testing.T) {
	dir := t.TempDir()
	fst := faultstore.New(newLocal(t, filepath.Join(dir, "store")))
	fst.Add(faultstore.Rule{Op: faultstore.OpAbort, Hang: true})
	j, err := Open(filepath.Join(dir, "journal"), ident, fst, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	j.abortTimeout = 50 * time.Millisecond
	if err := j.Close(); err != nil { // uploads can no longer be journaled
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := j.NewMultipart(ctxT(t), "v/big", store.PutOptions{})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("an upload the closed journal could not record was handed out")
		}
		t.Logf("new multipart on a closed journal: %v", err)
	case <-time.After(30 * time.Second): // a bound on a hang, not a speed
		t.Fatal("NewMultipart hung aborting an upload the journal could not record while the store hangs")
	}
}
