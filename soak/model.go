package main

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
)

// The model is what must be true of the files and folders under the
// mount, as far as the soak can know it. A name's state is the set of
// states it may be in: one when the soak knows it (every call that changed
// it succeeded and was made durable by a successful close or fsync), more
// when a call failed (it may or may not have happened, and a commit that
// failed may still be retried by the daemon) or the daemon was killed with
// changes not yet committed.

// state is one possible state of a name: absent, a folder, or a file with
// its content.
type state struct {
	absent bool
	dir    bool
	data   []byte
}

var absent = state{absent: true}

func fileState(data []byte) state { return state{data: slices.Clone(data)} }

func (s state) equal(o state) bool {
	return s.absent == o.absent && s.dir == o.dir && bytes.Equal(s.data, o.data)
}

func (s state) String() string {
	switch {
	case s.absent:
		return "absent"
	case s.dir:
		return "a folder"
	}
	return fmt.Sprintf("a file of %d bytes (%s)", len(s.data), digest(s.data))
}

// states is a set of possible states.
type states []state

func (ss states) has(s state) bool {
	return slices.ContainsFunc(ss, s.equal)
}

// with adds s to the set.
func (ss states) with(more ...state) states {
	out := slices.Clone(ss)
	for _, s := range more {
		if !out.has(s) {
			out = append(out, s)
		}
	}
	return out
}

func (ss states) certain() bool { return len(ss) == 1 }

func (ss states) String() string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return fmt.Sprint(parts)
}

// model maps every name the soak uses to its possible states.
type model struct {
	names map[string]states
}

func newModel(names []string) *model {
	m := &model{names: make(map[string]states)}
	for _, n := range names {
		m.names[n] = states{absent}
	}
	return m
}

func (m *model) get(name string) states { return m.names[name] }

func (m *model) set(name string, ss states) { m.names[name] = ss }

// sorted lists the names in a fixed order (the replay depends on it).
func (m *model) sorted() []string {
	names := make([]string, 0, len(m.names))
	for n := range m.names {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// digest is a short fingerprint of data for messages.
func digest(data []byte) string {
	var h uint64 = 14695981039346656037
	for _, b := range data {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return fmt.Sprintf("%016x", h)
}

// firstDiff is where two contents first differ, for messages.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
