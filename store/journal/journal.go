// Package journal keeps a local record of the multipart uploads a process
// starts, so that the uploads of a process that died (kill -9, a crash, a
// power cut) are aborted at once by the next process of the host instead
// of lingering, and billed, until a day-old sweep.
//
// A Store wraps the data store of a process. Every upload started through
// it is appended to the process's journal file (a JSON line with its key
// and id) and marked done when it completes or is aborted; an upload whose
// caller drops it without either (its Multipart value is garbage
// collected) is aborted then. The journal file lives in a folder shared by
// the host's processes (the state folder) and is locked (flock) for as long
// as its process lives: the kernel drops the lock when the process dies,
// however it dies.
//
// Recover, run at start-up and periodically, takes every journal file
// whose lock is free, aborts the uploads it lists as open and removes it.
// A live process's journal is never touched, so two processes of one host
// (the daemon and a standalone mount) never abort each other's uploads.
//
// The journal is written without fsync: it survives the death of its
// process, not a crash of the host's kernel; uploads lost that way are left
// to the store-wide sweep of old uploads.
package journal

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/store"
)

// abortTimeout bounds the abort of an upload whose caller dropped it or
// that could not be journaled.
const abortTimeout = time.Minute

// suffix ends the name of every journal file; files being created start
// with a dot and are ignored until they are complete and locked.
const suffix = ".uploads"

// record is one line of a journal file.
type record struct {
	Store string `json:"store,omitempty"` // the header: which store the uploads are in
	Start *entry `json:"start,omitempty"` // an upload was started
	Done  string `json:"done,omitempty"`  // the upload with this id completed or was aborted
}

// entry names an upload.
type entry struct {
	Key string `json:"key"`
	ID  string `json:"id"`
}

// Store is a store.Store that journals the multipart uploads started
// through it. Close it when the process no longer uploads.
type Store struct {
	store.Store
	log logrus.FieldLogger

	path string // the journal file's
	// abortTimeout bounds the aborts the journal makes itself (tests
	// shorten it).
	abortTimeout time.Duration

	mu        sync.Mutex
	file      *os.File
	headerLen int64           // the size of the file's header line
	open      map[string]bool // ids of the uploads started and not done
	closed    bool
}

// Open starts this process's journal in dir for the uploads made through
// inner. ident names the store (its bucket and endpoint): Recover acts only
// on journals of the same store.
func Open(dir, ident string, inner store.Store, log logrus.FieldLogger) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the upload journal folder: %w", err)
	}
	file, path, err := create(dir, ident)
	if err != nil {
		return nil, err
	}
	info, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("reading the new upload journal: %w", err)
	}
	return &Store{Store: inner, log: log, path: path, abortTimeout: abortTimeout,
		file: file, headerLen: info.Size(), open: map[string]bool{}}, nil
}

// create makes a locked journal file holding its header: written under a
// dot name and renamed in, so Recover never sees it unlocked or empty.
func create(dir, ident string) (file *os.File, path string, err error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	name := fmt.Sprintf("%d-%s%s", os.Getpid(), hex.EncodeToString(rnd[:]), suffix)
	path = filepath.Join(dir, name)
	tmp := filepath.Join(dir, "."+name)
	file, err = os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("creating the upload journal: %w", err)
	}
	err = syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		err = appendRecord(file, record{Store: ident})
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		file.Close()
		os.Remove(tmp)
		return nil, "", fmt.Errorf("creating the upload journal %s: %w", tmp, err)
	}
	return file, path, nil
}

func appendRecord(file *os.File, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	// One write per record: a process killed mid-way leaves whole lines
	// (at worst a torn last one, which Recover skips).
	_, err = file.Write(append(b, '\n'))
	return err
}

// NewMultipart starts the upload and journals it before handing it out.
// An upload the journal cannot record is aborted: it could be lost
// without a trace.
func (s *Store) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	mp, err := s.Store.NewMultipart(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	id := store.UploadID(mp)
	if id == "" {
		return mp, nil // a store that cannot name uploads: nothing to journal
	}
	if err := s.started(key, id); err != nil {
		s.abortUnjournaled(ctx, mp, key, id)
		return nil, store.NewError("multipart", key, nil, fmt.Errorf("journaling the upload: %w", err))
	}
	j := &journaled{Multipart: mp, s: s, key: key, id: id}
	runtime.AddCleanup(j, dropped, droppedUpload{s: s, inner: mp, key: key, id: id})
	return j, nil
}

// abortUnjournaled aborts an upload the journal could not record, even when
// the caller's context has ended, but within s.abortTimeout: a hanging store
// must not hold the caller's write for good. A failed abort is logged; the
// store-wide sweep of old uploads removes it.
func (s *Store) abortUnjournaled(ctx context.Context, mp store.Multipart, key, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.abortTimeout)
	defer cancel()
	if err := mp.Abort(ctx); err != nil && !store.IsNotFound(err) {
		s.log.WithError(err).WithFields(logrus.Fields{"key": key, "uploadID": id}).
			Warn("aborting an upload the journal could not record failed; the sweep of day-old uploads removes it")
	}
}

// started records an upload.
func (s *Store) started(key, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("the upload journal is closed")
	}
	if err := appendRecord(s.file, record{Start: &entry{Key: key, ID: id}}); err != nil {
		return err
	}
	s.open[id] = true
	return nil
}

// done records that an upload completed or was aborted; once none is
// open the file is cut back to its header, so it never grows without
// bound.
func (s *Store) done(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open[id] || s.closed {
		return
	}
	delete(s.open, id)
	var err error
	if len(s.open) == 0 {
		err = s.file.Truncate(s.headerLen)
	} else {
		err = appendRecord(s.file, record{Done: id})
	}
	if err != nil {
		s.log.WithError(err).WithField("uploadID", id).Warn("journaling the end of an upload; a later start may try to abort it, which is harmless")
	}
}

// Close ends the journal: its file is removed when no upload is open, and
// kept (to be recovered by the next process) otherwise. Uploads started
// through s afterwards fail.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if len(s.open) == 0 {
		err = os.Remove(s.path)
	} else {
		s.log.WithField("open", len(s.open)).Info("uploads still open at exit stay in the journal; the next start aborts them")
	}
	return errors.Join(err, s.file.Close())
}

// AbortUpload forwards to the wrapped store.
func (s *Store) AbortUpload(ctx context.Context, key, uploadID string) error {
	return store.AbortUpload(ctx, s.Store, key, uploadID)
}

// journaled is an upload that marks itself done in the journal.
type journaled struct {
	store.Multipart
	s       *Store
	key, id string
}

func (j *journaled) UploadID() string { return j.id }

func (j *journaled) Complete(ctx context.Context) (store.Object, error) {
	obj, err := j.Multipart.Complete(ctx)
	if err == nil {
		j.s.done(j.id)
	}
	return obj, err
}

func (j *journaled) Abort(ctx context.Context) error {
	err := j.Multipart.Abort(ctx)
	if err == nil || store.IsNotFound(err) {
		j.s.done(j.id)
	}
	return err
}

// droppedUpload is what the clean-up of a dropped upload needs; it must not
// reference the journaled value itself.
type droppedUpload struct {
	s       *Store
	inner   store.Multipart
	key, id string
}

// dropped aborts an upload whose caller let go of it without completing or
// aborting it: nobody can finish it any more. Once the journal is closed
// its open uploads are left to the next start's Recover.
func dropped(d droppedUpload) {
	d.s.mu.Lock()
	open := d.s.open[d.id] && !d.s.closed
	d.s.mu.Unlock()
	if !open {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d.s.abortTimeout)
		defer cancel()
		err := d.inner.Abort(ctx)
		log := d.s.log.WithFields(logrus.Fields{"key": d.key, "uploadID": d.id})
		if err != nil && !store.IsNotFound(err) {
			log.WithError(err).Warn("aborting an upload its writer dropped; the next start retries")
			return
		}
		d.s.done(d.id)
		log.Info("aborted an upload its writer dropped without finishing it")
	}()
}

// Recover aborts the open uploads of every journal in dir whose process is
// gone and that is of the store ident names, then removes those journals.
// It reports how many uploads it aborted; a journal whose aborts failed
// stays for the next try.
func Recover(ctx context.Context, dir, ident string, st store.Store, log logrus.FieldLogger) (int, error) {
	names, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the upload journals: %w", err)
	}
	aborted := 0
	var errs []error
	for _, e := range names {
		if !strings.HasSuffix(e.Name(), suffix) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n, err := recoverFile(ctx, filepath.Join(dir, e.Name()), ident, st, log)
		aborted += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return aborted, errors.Join(errs...)
}

// recoverFile recovers one journal if its process is gone.
func recoverFile(ctx context.Context, path, ident string, st store.Store, log logrus.FieldLogger) (int, error) {
	file, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // recovered by another process meanwhile
	}
	if err != nil {
		return 0, fmt.Errorf("opening the upload journal %s: %w", path, err)
	}
	defer file.Close()
	if err := syscall.Flock(int(file.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return 0, nil // its process is alive (or another one is recovering it)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, nil // recovered and removed while we waited for the lock
	}
	header, open, err := readJournal(file)
	if err != nil {
		return 0, fmt.Errorf("reading the upload journal %s: %w", path, err)
	}
	if header != ident {
		return 0, nil // another store's: its own processes recover it
	}
	aborted := 0
	for _, up := range open {
		err := store.AbortUpload(ctx, st, up.Key, up.ID)
		switch {
		case store.IsNotFound(err): // completed or aborted before the process died
		case err != nil:
			return aborted, fmt.Errorf("aborting upload %s of %q from the journal %s: %w", up.ID, up.Key, path, err)
		default:
			aborted++
			log.WithFields(logrus.Fields{"key": up.Key, "uploadID": up.ID, "journal": filepath.Base(path)}).
				Info("aborted an upload lost by a process that died")
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return aborted, fmt.Errorf("removing the recovered upload journal: %w", err)
	}
	return aborted, nil
}

// readJournal returns a journal's store and its uploads still open, in the
// order they started. Lines that do not parse (a torn last write) are
// skipped.
func readJournal(file *os.File) (string, []entry, error) {
	var header string
	var order []entry
	open := map[string]bool{}
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		switch {
		case r.Store != "":
			header = r.Store
		case r.Start != nil:
			order = append(order, *r.Start)
			open[r.Start.ID] = true
		case r.Done != "":
			delete(open, r.Done)
		}
	}
	if err := sc.Err(); err != nil {
		return "", nil, err
	}
	var out []entry
	for _, e := range order {
		if open[e.ID] {
			out = append(out, e)
			delete(open, e.ID) // an id journaled twice is aborted once
		}
	}
	return header, out, nil
}
