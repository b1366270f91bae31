package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"
)

// The operations, each checked against the model and updating it. A call
// that fails may or may not have happened: the model then keeps both
// outcomes, and the next look at the name (through the mount, or after a
// restart from the store) must find one of them.

// call times one system call: a call that takes longer than the soak's
// stall limit is reported, since with a hanging store every call must
// still end within its bound.
func (s *soak) call(what string, fn func() error) error {
	start := time.Now()
	err := fn()
	if took := time.Since(start); took > s.stallLimit {
		s.stalls++
		s.logf("STALL %s took %v (limit %v)", what, took.Round(time.Millisecond), s.stallLimit)
	}
	s.syscalls++
	return err
}

// observe reads the state of name through the mount, retrying calls that
// fail (faults are injected into reads too).
func (s *soak) observe(name string) (state, error) {
	var last error
	for range 5 {
		st, err := s.observeOnce(name)
		if err == nil {
			return st, nil
		}
		last = err
	}
	s.readErrors++
	return state{}, last
}

func (s *soak) observeOnce(name string) (state, error) {
	p := filepath.Join(s.dir, name)
	var info os.FileInfo
	err := s.call("lstat "+name, func() (err error) { info, err = os.Lstat(p); return err })
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return absent, nil
	case err != nil:
		return state{}, err
	case info.IsDir():
		return state{dir: true}, nil
	}
	var data []byte
	err = s.call("read "+name, func() (err error) { data, err = os.ReadFile(p); return err })
	if errors.Is(err, fs.ErrNotExist) {
		return absent, nil
	}
	if err != nil {
		return state{}, err
	}
	return fileState(data), nil
}

// check compares what the mount shows of name with the model. A state the
// model does not allow is a mismatch; the model then follows what was seen,
// so that one fault is reported once.
func (s *soak) check(name, when string) (state, bool) {
	got, err := s.observe(name)
	if err != nil {
		s.logf("  %s: cannot read it back (%v); left unresolved", name, err)
		return state{}, false
	}
	want := s.m.get(name)
	if !want.has(got) {
		s.mismatch(name, when, got, want)
		s.m.set(name, states{got})
	}
	return got, true
}

func (s *soak) mismatch(name, when string, got state, want states) {
	msg := fmt.Sprintf("MISMATCH %s %s: found %v, want one of %v", when, name, got, want)
	for _, w := range want {
		if !w.absent && !w.dir && !got.absent && !got.dir {
			msg += fmt.Sprintf(" (vs %d bytes: first difference at byte %d)", len(w.data), firstDiff(got.data, w.data))
		}
	}
	msg += "; the store itself holds " + s.inStore(name)
	s.mismatches = append(s.mismatches, fmt.Sprintf("op %d: %s", s.ops, msg))
	s.logf("%s", msg)
	s.logf("  the last operations before it:")
	for _, line := range s.recent {
		s.logf("    %s", line)
	}
}

// modify opens a file, changes it in one to a few steps, maybe fsyncs,
// and closes it. The daemon may be killed between any two steps.
func (s *soak) modify(name string) {
	base, ok := s.check(name, "before modifying")
	if !ok || base.dir {
		return
	}
	mode := "create"
	if !base.absent {
		mode = pick(s, "create", "append", "append", "overwrite", "overwrite", "truncate")
	}
	flags := map[string]int{
		"create": os.O_WRONLY | os.O_CREATE | os.O_TRUNC, "append": os.O_WRONLY | os.O_APPEND,
		"overwrite": os.O_RDWR, "truncate": os.O_RDWR,
	}[mode]
	s.op("%s %s (%v)", mode, name, base)
	committed := s.m.get(name) // what the store may hold
	cur := base.data
	if mode == "create" {
		cur = nil
	}
	var f *os.File
	err := s.call("open "+name, func() (err error) { f, err = os.OpenFile(filepath.Join(s.dir, name), flags, 0o644); return err })
	if err != nil {
		s.logf("  open: %v", err)
		if mode == "create" {
			s.m.set(name, committed.with(fileState(nil)))
		}
		return
	}
	if mode == "create" {
		committed = committed.with(fileState(nil)) // create stores an empty object
	}
	steps := 1 + s.rng.IntN(3)
	for i := 0; i < steps; i++ {
		if s.killHere(name, committed) {
			f.Close() // on the dead mount: only frees the descriptor
			return
		}
		var n int
		var stepErr error
		cur, n, stepErr = s.step(f, mode, cur)
		if stepErr != nil {
			s.logf("  step %d: %v (%d bytes went through)", i, stepErr, n)
			f.Close()
			s.m.set(name, committed.with(fileState(cur)))
			return
		}
	}
	if s.rng.IntN(3) == 0 {
		err := s.call("fsync "+name, f.Sync)
		s.logf("  fsync: %v", err)
		if err == nil {
			committed = states{fileState(cur)}
		} else {
			committed = committed.with(fileState(cur))
		}
		if s.killHere(name, committed) {
			f.Close() // on the dead mount: only frees the descriptor
			return
		}
	}
	err = s.call("close "+name, f.Close)
	s.logf("  close: %v (%d bytes, %s)", err, len(cur), digest(cur))
	if err == nil {
		s.m.set(name, states{fileState(cur)})
	} else {
		s.m.set(name, committed.with(fileState(cur)))
	}
}

// killHere is a kill point in the middle of changing name: if the daemon is
// killed here, the store holds one of committed, which the check after the
// restart must find (and the model then follows what it found).
func (s *soak) killHere(name string, committed states) bool {
	s.m.set(name, committed)
	return s.maybeKill()
}

// step makes one change through f and returns the content the mount then
// shows (the part of a write that went through counts).
func (s *soak) step(f *os.File, mode string, cur []byte) ([]byte, int, error) {
	switch mode {
	case "create", "append":
		data := s.chunk()
		var n int
		err := s.call("write "+f.Name(), func() (err error) { n, err = f.Write(data); return err })
		return append(cur, data[:n]...), n, err
	case "overwrite":
		data := s.chunk()
		off := int64(s.rng.IntN(len(cur) + 1))
		var n int
		err := s.call("pwrite "+f.Name(), func() (err error) { n, err = f.WriteAt(data, off); return err })
		return writeAt(cur, off, data[:n]), n, err
	default: // truncate
		size := int64(s.rng.IntN(len(cur) + 100<<10 + 1))
		err := s.call("ftruncate "+f.Name(), func() error { return f.Truncate(size) })
		if err != nil {
			return cur, 0, err
		}
		return resize(cur, size), 0, nil
	}
}

// chunk is the data of one write: mostly small, sometimes a few MiB
// (written as 1 MiB writes, so that a streaming upload goes multipart).
func (s *soak) chunk() []byte {
	n := 1 + s.rng.IntN(64<<10)
	if s.rng.IntN(20) == 0 {
		n = (1 + s.rng.IntN(7)) << 20
	}
	data := make([]byte, n)
	seed := byte(s.rng.IntN(256))
	for i := range data {
		data[i] = seed + byte(i*7) ^ byte(i>>10)
	}
	return data
}

func writeAt(cur []byte, off int64, data []byte) []byte {
	end := off + int64(len(data))
	out := resize(cur, max(end, int64(len(cur))))
	copy(out[off:], data)
	return out
}

func resize(cur []byte, size int64) []byte {
	out := make([]byte, size)
	copy(out, cur)
	return out
}

// read checks a file's content.
func (s *soak) read(name string) {
	s.op("read %s", name)
	s.check(name, "reading")
}

// rename moves a file onto another name of the soak, replacing it.
func (s *soak) rename(from, to string) {
	if from == to {
		return
	}
	got, ok := s.check(from, "before renaming")
	if !ok || got.absent || got.dir {
		return
	}
	if dst, ok := s.check(to, "before renaming onto it"); !ok || dst.dir {
		return
	}
	s.op("rename %s %s", from, to)
	err := s.call("rename "+from, func() error { return os.Rename(filepath.Join(s.dir, from), filepath.Join(s.dir, to)) })
	s.logf("  rename: %v", err)
	src, dst := s.m.get(from), s.m.get(to)
	if err == nil {
		s.m.set(to, src)
		s.m.set(from, states{absent})
		return
	}
	s.m.set(to, dst.with(src...))
	s.m.set(from, src.with(absent))
}

// unlink removes a file.
func (s *soak) unlink(name string) {
	got, ok := s.check(name, "before unlinking")
	if !ok || got.absent || got.dir {
		return
	}
	s.op("unlink %s", name)
	err := s.call("unlink "+name, func() error { return syscall.Unlink(filepath.Join(s.dir, name)) })
	s.logf("  unlink: %v", err)
	if err == nil {
		s.m.set(name, states{absent})
	} else {
		s.m.set(name, s.m.get(name).with(absent))
	}
}

// mkdirOrRmdir makes an empty folder, or removes it.
func (s *soak) mkdirOrRmdir(name string) {
	got, ok := s.check(name, "before mkdir or rmdir")
	if !ok {
		return
	}
	p := filepath.Join(s.dir, name)
	if got.absent {
		s.op("mkdir %s", name)
		err := s.call("mkdir "+name, func() error { return os.Mkdir(p, 0o755) })
		s.logf("  mkdir: %v", err)
		if err == nil {
			s.m.set(name, states{{dir: true}})
		} else {
			s.m.set(name, s.m.get(name).with(state{dir: true}))
		}
		return
	}
	s.op("rmdir %s", name)
	err := s.call("rmdir "+name, func() error { return syscall.Rmdir(p) })
	s.logf("  rmdir: %v", err)
	if err == nil {
		s.m.set(name, states{absent})
	} else {
		s.m.set(name, s.m.get(name).with(absent))
	}
}

// readdir checks a folder's listing: a name the model knows to exist must
// be listed, one it knows to be absent must not.
func (s *soak) readdir(dir string) {
	s.op("readdir %q", dir)
	var entries []os.DirEntry
	err := s.call("readdir "+dir, func() (err error) { entries, err = os.ReadDir(filepath.Join(s.dir, dir)); return err })
	if err != nil {
		s.logf("  readdir: %v", err)
		return
	}
	listed := make(map[string]bool, len(entries))
	for _, e := range entries {
		listed[path.Join(dir, e.Name())] = true
	}
	for _, name := range s.m.sorted() {
		if parent := path.Dir(name); parent != dir && !(parent == "." && dir == "") {
			continue
		}
		want := s.m.get(name)
		if !want.certain() || listed[name] != want[0].absent {
			continue
		}
		seen := "not listed"
		if listed[name] {
			seen = "listed"
		}
		msg := fmt.Sprintf("MISMATCH in a listing of %q: %s is %s, want %v; the store itself holds %s", dir, name, seen, want, s.inStore(name))
		s.mismatches = append(s.mismatches, fmt.Sprintf("op %d: %s", s.ops, msg))
		s.logf("%s", msg)
		if got, err := s.observe(name); err == nil {
			s.m.set(name, states{got})
		}
	}
}

// verifyAll checks every name against the model, through a daemon that
// has just started and so knows only what is in the store: there every
// name's state is what the store holds, and the model follows it.
func (s *soak) verifyAll(when string) {
	for _, name := range s.m.sorted() {
		got, ok := s.check(name, when)
		if ok {
			s.m.set(name, states{got})
		}
	}
	for _, d := range s.fixedDirs {
		if _, err := os.Stat(filepath.Join(s.dir, d)); err != nil {
			s.mismatches = append(s.mismatches, fmt.Sprintf("op %d: the folder %s is gone %s: %v", s.ops, d, when, err))
		}
	}
}
