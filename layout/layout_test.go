package layout

import (
	"testing"
	"time"
)

func TestAttrsRoundTrip(t *testing.T) {
	cases := []Attrs{
		{Kind: File, Perm: 0o644, UID: 1000, GID: 100, Mtime: time.Unix(1700000000, 0)},
		{Kind: File, Perm: 0o4755, UID: 0, GID: 0, Mtime: time.Unix(1700000000, 123456789)},
		{Kind: Dir, Perm: 0o750, UID: 7, GID: 8, Mtime: time.Unix(1, 1)},
		{Kind: Symlink, Perm: 0o777, UID: 1<<32 - 1, GID: 1<<32 - 1, Mtime: time.Unix(0, 0)},
		{Kind: File, Perm: 0o600, Mtime: time.Unix(-5, 0)},
		{Kind: File, Perm: 0o644, Mtime: time.Unix(10, 0), Ctime: time.Unix(20, 30), Atime: time.Unix(5, 6)},
		{Kind: Fifo, Perm: 0o600, Mtime: time.Unix(10, 0), Ctime: time.Unix(11, 0)},
		{Kind: Socket, Perm: 0o755, Mtime: time.Unix(10, 0)},
		{Kind: CharDev, Perm: 0o666, Mtime: time.Unix(10, 0), Rdev: 0x0103},
		{Kind: BlockDev, Perm: 0o660, Mtime: time.Unix(10, 0), Rdev: 0x0801},
	}
	for _, want := range cases {
		meta := want.Metadata()
		def := Attrs{Kind: File}
		if want.Kind == Dir {
			def.Kind = Dir
		}
		got := DecodeAttrs(meta, def)
		if got.Kind != want.Kind || got.Perm != want.Perm || got.UID != want.UID || got.GID != want.GID || !got.Mtime.Equal(want.Mtime) ||
			!got.Ctime.Equal(want.Ctime) || !got.Atime.Equal(want.Atime) || got.Rdev != want.Rdev {
			t.Errorf("%+v encoded as %v decodes as %+v", want, meta, got)
		}
	}
}

// The encoding is s3fs-fuse's: these exact strings are what other tools
// read and write.
func TestAttrsMetadataFormat(t *testing.T) {
	m := Attrs{Kind: File, Perm: 0o640, UID: 1, GID: 2, Mtime: time.Unix(1600000000, 5)}.Metadata()
	want := map[string]string{"mode": "33184", "uid": "1", "gid": "2", "mtime": "1600000000", "mtime-nsec": "5"}
	if len(m) != len(want) {
		t.Fatalf("metadata %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("metadata %q = %q, want %q", k, m[k], v)
		}
	}
	if _, ok := (Attrs{Mtime: time.Unix(3, 0)}).Metadata()["mtime-nsec"]; ok {
		t.Error("whole seconds carry a mtime-nsec")
	}
	if got := (Attrs{Kind: Dir, Perm: 0o40755}).Metadata()["mode"]; got != "16877" {
		t.Errorf("a dir's mode with stray type bits in Perm = %s, want 16877 (040755)", got)
	}
}

func TestDecodeAttrsForeignAndBroken(t *testing.T) {
	def := Attrs{Kind: File, Perm: 0o644, UID: 11, GID: 12, Mtime: time.Unix(99, 0)}
	cases := []struct {
		name string
		meta map[string]string
		want Attrs
	}{
		{"none", nil, def},
		{"rclone float mtime", map[string]string{"mtime": "1500000000.25"},
			Attrs{Kind: File, Perm: 0o644, UID: 11, GID: 12, Mtime: time.Unix(1500000000, 250000000)}},
		{"s3fs-fuse file", map[string]string{"mode": "33216", "uid": "1234", "gid": "5678", "mtime": "1600000000"},
			Attrs{Kind: File, Perm: 0o700, UID: 1234, GID: 5678, Mtime: time.Unix(1600000000, 0)}},
		{"symlink", map[string]string{"mode": "41471"}, Attrs{Kind: Symlink, Perm: 0o777, UID: 11, GID: 12, Mtime: time.Unix(99, 0)}},
		{"garbage keeps defaults", map[string]string{"mode": "x", "uid": "-1", "gid": "99999999999", "mtime": "NaN", "mtime-nsec": "7"}, def},
		{"huge float mtime", map[string]string{"mtime": "1e300"}, def},
		{"nsec out of range", map[string]string{"mtime": "10", "mtime-nsec": "1000000000"},
			Attrs{Kind: File, Perm: 0o644, UID: 11, GID: 12, Mtime: time.Unix(10, 0)}},
	}
	for _, c := range cases {
		got := DecodeAttrs(c.meta, def)
		if got.Kind != c.want.Kind || got.Perm != c.want.Perm || got.UID != c.want.UID || got.GID != c.want.GID || !got.Mtime.Equal(c.want.Mtime) {
			t.Errorf("%s: %v decodes as %+v, want %+v", c.name, c.meta, got, c.want)
		}
	}
	// A directory marker stays a directory whatever its mode says.
	if got := DecodeAttrs(map[string]string{"mode": "41471"}, Attrs{Kind: Dir}); got.Kind != Dir {
		t.Errorf("a directory marker with a symlink mode decodes as %v", got.Kind)
	}
}

func TestRootMetadataRoundTrip(t *testing.T) {
	o := Owner{Org: "acme", Name: "data", VolumeID: "1b2c"}
	m := RootMetadata(o, Attrs{Kind: File, Perm: 0o770, UID: 1000, GID: 100, Mtime: time.Unix(1700000000, 0)})
	got, ok := RootOwner(m)
	if !ok || got != o {
		t.Errorf("RootOwner(%v) = %+v, %v; want %+v", m, got, ok, o)
	}
	if a := DecodeAttrs(m, Attrs{Kind: Dir}); a.Kind != Dir || a.Perm != 0o770 || a.UID != 1000 || m["mode"] != "16888" {
		t.Errorf("root attributes decode as %+v from %v", a, m)
	}
	if _, ok := RootOwner(map[string]string{"mode": "16877"}); ok {
		t.Error("a marker without owner names a volume")
	}
}

func TestKeys(t *testing.T) {
	vol := VolumePrefix("acme", "1b2c")
	checks := map[string][2]string{
		"volume":        {vol, "acme/1b2c/"},
		"org":           {OrgPrefix("acme"), "acme/"},
		"view":          {SubfolderPrefix(vol, "users/alice"), "acme/1b2c/users/alice/"},
		"no subfolder":  {SubfolderPrefix(vol, ""), vol},
		"file":          {FileKey(vol, "a/b.txt"), "acme/1b2c/a/b.txt"},
		"dir":           {DirKey(vol, "a"), "acme/1b2c/a/"},
		"root dir":      {DirKey(vol, ""), vol},
		"root of mount": {DirKey("", ""), ""},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s key %q, want %q", what, c[0], c[1])
		}
	}
	for prefix, want := range map[string]string{"acme/1b2c/": "1b2c", "acme/1b2c": "", "acme/": "", "other/1b2c/": "", "acme/1b2c/x/": ""} {
		id, ok := VolumeIDOf("acme", prefix)
		if id != want || ok != (want != "") {
			t.Errorf("VolumeIDOf(%q) = %q, %v; want %q", prefix, id, ok, want)
		}
	}
}
