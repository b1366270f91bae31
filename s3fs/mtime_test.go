package s3fs

import (
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
)

// TestMtimeFromMetadata: an object's mtime is read from s3fs-fuse's
// integer seconds (refined by our mtime-nsec) or rclone's float seconds;
// anything else that does not parse leaves the object's LastModified.
// Needs no mount.
func TestMtimeFromMetadata(t *testing.T) {
	f := &fsys{opts: Options{FileMode: 0o644, DirMode: 0o755}}
	lastModified := time.Unix(1_600_000_000, 0)
	cases := []struct {
		name        string
		mtime, nsec string
		want        time.Time
	}{
		{"s3fs-fuse seconds", "1700000000", "", time.Unix(1_700_000_000, 0)},
		{"seconds and nanoseconds", "1700000000", "123456789", time.Unix(1_700_000_000, 123_456_789)},
		{"before 1970", "-86400", "", time.Unix(-86_400, 0)},
		{"nanoseconds out of range", "1700000000", "1000000000", time.Unix(1_700_000_000, 0)},
		{"negative nanoseconds", "1700000000", "-1", time.Unix(1_700_000_000, 0)},
		{"nanoseconds not a number", "1700000000", "soon", time.Unix(1_700_000_000, 0)},
		{"rclone float seconds", "1700000000.25", "", time.Unix(1_700_000_000, 250_000_000)},
		{"rclone float, nanoseconds ignored", "1700000000.5", "7", time.Unix(1_700_000_000, 500_000_000)},
		{"float in exponent form", "1.7e9", "", time.Unix(1_700_000_000, 0)},
		{"absent", "", "123", lastModified},
		{"not a number", "yesterday", "", lastModified},
		{"NaN", "NaN", "", lastModified},
		{"infinite", "+Inf", "", lastModified},
		{"too far off for a float", "1e16", "", lastModified},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			meta := map[string]string{}
			if c.mtime != "" {
				meta["mtime"] = c.mtime
			}
			if c.nsec != "" {
				meta["mtime-nsec"] = c.nsec
			}
			_, a := f.attrsFromObject(store.Object{Key: "f", LastModified: lastModified, Metadata: meta}, false)
			if !a.mtime.Equal(c.want) {
				t.Fatalf("mtime %q, mtime-nsec %q: got %v; want %v", c.mtime, c.nsec, a.mtime, c.want)
			}
		})
	}
}

// TestMetadataRoundTrip: what a commit writes reads back as the same
// attributes, sub-second mtime included.
func TestMetadataRoundTrip(t *testing.T) {
	f := &fsys{opts: Options{FileMode: 0o644, DirMode: 0o755}}
	for _, mtime := range []time.Time{time.Unix(1_700_000_000, 0), time.Unix(1_700_000_000, 1), time.Unix(-5, 999_999_999)} {
		in := attrs{perm: 0o4751, uid: 1000, gid: 50, mtime: mtime}
		k, out := f.attrsFromObject(store.Object{Key: "f", Metadata: in.metadata(kindFile)}, false)
		if k != kindFile || out.perm != in.perm || out.uid != in.uid || out.gid != in.gid || !out.mtime.Equal(in.mtime) {
			t.Errorf("wrote %+v as %v, read back %v %+v", in, in.metadata(kindFile), k, out)
		}
	}
}
