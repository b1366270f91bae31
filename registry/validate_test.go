package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/s3vol/s3vol/store/localstore"
)

func TestValidateName(t *testing.T) {
	ok := []string{"a", "A", "0", "data", "my_vol.v2-x", strings.Repeat("a", MaxNameLen)}
	bad := []string{"", "-a", "_a", ".a", "a/b", "a b", "é", "a:b", "a\x00", strings.Repeat("a", MaxNameLen+1)}
	for _, n := range ok {
		if err := ValidateName(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
	}
	for _, n := range bad {
		err := ValidateName(n)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "1 to 128 characters: letters, digits") {
			t.Errorf("%q: %v", n, err)
		}
	}
}

func TestValidateSubpath(t *testing.T) {
	ok := []string{"a", "users/alice", "a/b/c", "...", "a..b", ".hidden/x", strings.Repeat("x/", 511) + "x"}
	for _, p := range ok {
		if err := ValidateSubpath(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	bad := map[string]string{
		"":                               "it is empty",
		"/abs":                           "starts with '/'",
		"a//b":                           "empty component",
		"a/":                             "empty component",
		"./a":                            `"." component`,
		"a/.":                            `"." component`,
		"..":                             `".." component`,
		"a/../b":                         `".." component`,
		"a\x00b":                         "NUL",
		strings.Repeat("x/", 512) + "xy": "bytes long",
		strings.Repeat("x", 256):         "longer than 255",
	}
	for p, want := range bad {
		err := ValidateSubpath(p)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "relative path") {
			t.Errorf("%q: want %q, got %v", p, want, err)
		}
	}
}

func TestParseSpec(t *testing.T) {
	s, err := ParseSpec("v", map[string]string{"ro": "", "uid": "1000", "gid": "100", "mode": "0750"})
	if err != nil || s.Options != (Options{ReadOnly: true, UID: 1000, GID: 100, Mode: 0o750}) || s.IsView() {
		t.Fatalf("%+v %v", s, err)
	}
	s, err = ParseSpec("alice", map[string]string{"volume": "tenants", "subpath": "users/alice", "ro": "false"})
	if err != nil || !s.IsView() || s.Volume != "tenants" || s.Subpath != "users/alice" || s.Options.Mode != DefaultMode {
		t.Fatalf("%+v %v", s, err)
	}
	bad := map[string]map[string]string{
		`unknown option "size"`:               {"size": "1G"},
		`invalid value "x" for option "uid"`:  {"uid": "x"},
		`invalid value "-1" for option "gid"`: {"gid": "-1"},
		`invalid value "9" for option "mode"`: {"mode": "9"},
		`invalid value "0" for option "mode"`: {"mode": "0"},
		`invalid value "maybe" for option`:    {"ro": "maybe"},
		`needs volume=NAME`:                   {"subpath": "a"},
		`needs subpath=PATH`:                  {"volume": "tenants"},
		`invalid subpath "../x"`:              {"volume": "tenants", "subpath": "../x"},
		`invalid volume name "-x"`:            {"volume": "-x", "subpath": "a"},
		`cannot point at itself`:              {"volume": "v", "subpath": "a"},
	}
	for want, opts := range bad {
		_, err := ParseSpec("v", opts)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want %q, got %v", opts, want, err)
		}
	}
	if _, err := ParseSpec("v", map[string]string{"size": "1"}); !strings.Contains(err.Error(), "accepted options: volume=NAME and subpath=PATH") {
		t.Errorf("unknown option message does not list the accepted ones: %v", err)
	}
	if _, err := ParseSpec("bad name", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}
}

func TestNewConfig(t *testing.T) {
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{HostID: "h"}); err == nil {
		t.Error("New without stores succeeded")
	}
	if _, err := New(Config{Meta: st, Data: st}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "host id") {
		t.Errorf("New without a host id: %v", err)
	}
	if _, err := New(Config{Meta: st, Data: st, HostID: "h", Org: "a/b"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "organization") {
		t.Errorf("New with a bad org: %v", err)
	}
	r, err := New(Config{Meta: st, Data: st, HostID: "h"})
	if err != nil || r.OrgName() != DefaultOrg || r.LeaseTTL() != DefaultLeaseTTL || r.cfg.RepairGrace != DefaultRepairGrace {
		t.Fatalf("defaults: %v", err)
	}
	r.Close()
}

// A name refused for its length says so, with the numbers (issue 19.9).
func TestLongNamesSayTooLong(t *testing.T) {
	long := strings.Repeat("a", MaxNameLen+1)
	for what, err := range map[string]error{
		"volume": ValidateName(long), "organization": ValidateOrg(long), "host id": ValidateHostID(long),
	} {
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "too long: 129 characters, at most 128") {
			t.Errorf("%s name of 129 characters: %v", what, err)
		}
	}
}

// Every boolean accepts the same spellings, the ones the README lists, and
// a bad one is refused with that list (issue 19.9).
func TestBooleanSpellings(t *testing.T) {
	for v, want := range map[string]bool{
		"true": true, "True": true, "yes": true, "on": true, "1": true,
		"false": false, "FALSE": false, "no": false, "off": false, "0": false,
	} {
		got, err := ParseBool(v)
		if err != nil || got != want {
			t.Errorf("ParseBool(%q) = %v, %v; want %v", v, got, err, want)
		}
		s, err := ParseSpec("v", map[string]string{"ro": v})
		if err != nil || s.Options.ReadOnly != want {
			t.Errorf("ro=%s: %+v %v", v, s.Options, err)
		}
	}
	for _, v := range []string{"maybe", "t", "y", "2", ""} {
		if _, err := ParseBool(v); err == nil || !strings.Contains(err.Error(), BoolSpellings) {
			t.Errorf("ParseBool(%q): want a refusal listing %s, got %v", v, BoolSpellings, err)
		}
	}
	// "-o ro" alone means read-only.
	if s, err := ParseSpec("v", map[string]string{"ro": ""}); err != nil || !s.Options.ReadOnly {
		t.Errorf("ro alone: %+v %v", s.Options, err)
	}
	if _, err := ParseSpec("v", map[string]string{"ro": "maybe"}); err == nil || !strings.Contains(err.Error(), BoolSpellings) {
		t.Errorf("ro=maybe: %v", err)
	}
}

// Docker keeps `docker volume create --label` to itself (its Create call
// to a plugin carries only the name and the -o options), so labels that
// s3vol should keep come as -o label.KEY=VALUE (issue 19.8).
func TestParseSpecLabels(t *testing.T) {
	s, err := ParseSpec("v", map[string]string{"label.team": "web", "label.com.example.env": "prod", "mode": "0700"})
	if err != nil || len(s.Labels) != 2 || s.Labels["team"] != "web" || s.Labels["com.example.env"] != "prod" || s.Options.Mode != 0o700 {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := ParseSpec("v", map[string]string{"label.": "x"}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "label.KEY=VALUE") {
		t.Errorf("label with no key: %v", err)
	}
	if _, err := ParseSpec("v", map[string]string{"size": "1"}); !strings.Contains(err.Error(), "label.KEY=VALUE") {
		t.Errorf("the accepted options do not list labels: %v", err)
	}
	// Labels live in the organization's index: their size is bounded.
	if _, err := ParseSpec("v", map[string]string{"label.big": strings.Repeat("x", maxLabelValueLen+1)}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "too long") {
		t.Errorf("a label value over the limit: %v", err)
	}
	many := map[string]string{}
	for i := range maxLabels + 1 {
		many[fmt.Sprintf("label.k%d", i)] = "v"
	}
	if _, err := ParseSpec("v", many); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "at most") {
		t.Errorf("more labels than the limit: %v", err)
	}
}
