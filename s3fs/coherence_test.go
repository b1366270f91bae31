package s3fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
)

// TestTwoMounts: two filesystem instances on one prefix (two hosts) see
// each other's committed changes once the TTL has passed.
func TestTwoMounts(t *testing.T) {
	const ttl = 300 * time.Millisecond
	eachStore(t, func(t *testing.T, st store.Store) {
		a := mount(t, st, Options{Prefix: "v/", MetadataTTL: ttl})
		b := mount(t, st, Options{Prefix: "v/", MetadataTTL: ttl})
		// b caches what it sees (including the absence of the file).
		if _, err := os.Stat(b.path("shared")); !os.IsNotExist(err) {
			t.Fatalf("stat before creation: %v", err)
		}
		readDirNames(t, b.path(""))

		a.write("shared", []byte("version 1"))
		eventually(t, "b never reads a's file", func() bool { return readsAs(b.path("shared"), "version 1") })
		if names := readDirNames(t, b.path("")); len(names) != 1 {
			t.Fatalf("b lists %v", names)
		}

		b.write("shared", []byte("version 2, longer"))
		eventually(t, "a never reads b's overwrite", func() bool { return readsAs(a.path("shared"), "version 2, longer") })

		if err := os.Mkdir(a.path("dir"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(a.path("shared")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "b still sees the removed file", func() bool {
			_, err := os.Stat(b.path("shared"))
			return os.IsNotExist(err)
		})
		eventually(t, "b never lists just a's new directory", func() bool {
			names := readDirNames(t, b.path(""))
			return len(names) == 1 && names[0] == "dir"
		})
	})
}

// readsAs reports whether the file at path holds want.
func readsAs(path, want string) bool {
	got, err := os.ReadFile(path)
	return err == nil && string(got) == want
}

// eventually waits until cond holds, failing t with what after a deadline
// far beyond the TTLs the tests use: changes made elsewhere show up once
// the TTL has passed, and the test waits for that, not for a time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConcurrentWriters: two hosts writing the same file at once end with
// one writer's whole content, never a mix.
func TestConcurrentWriters(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		a := mount(t, st, Options{Prefix: "v/", MetadataTTL: 100 * time.Millisecond})
		b := mount(t, st, Options{Prefix: "v/", MetadataTTL: 100 * time.Millisecond})
		for round := range 3 {
			contents := [][]byte{bytes.Repeat([]byte{'A' + byte(round)}, 3<<20), bytes.Repeat([]byte{'a' + byte(round)}, 2<<20+5)}
			var wg sync.WaitGroup
			for i, m := range []*mnt{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					f, err := os.Create(m.path("contended"))
					if err != nil {
						t.Error(err)
						return
					}
					for off := 0; off < len(contents[i]); off += 64 << 10 {
						if _, err := f.Write(contents[i][off:min(off+64<<10, len(contents[i]))]); err != nil {
							t.Error(err)
						}
					}
					if err := f.Close(); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			data, _, err := getObject(t, st, "v/contended")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, contents[0]) && !bytes.Equal(data, contents[1]) {
				t.Fatalf("round %d: the stored file is a mix (%d bytes)", round, len(data))
			}
		}
	})
}

// TestReads: concurrent random and sequential reads of a large object are
// exact; a handle keeps reading the version it opened, and fails rather
// than mixing versions when that version is replaced elsewhere.
func TestReads(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		content := pattern(9, 40<<20+333)
		putObject(t, st, "v/big", content, nil)
		mt := mount(t, st, Options{Prefix: "v/", ReadAheadMax: 16 << 20})
		if got := mt.read("big"); !bytes.Equal(got, content) {
			t.Fatal("sequential read differs")
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f, err := os.Open(mt.path("big"))
				if err != nil {
					t.Error(err)
					return
				}
				defer f.Close()
				rng := rand.New(rand.NewPCG(uint64(g), 1))
				buf := make([]byte, 256<<10)
				for range 40 {
					off := rng.Int64N(int64(len(content)))
					n, err := f.ReadAt(buf, off)
					if err != nil && !errors.Is(err, io.EOF) {
						t.Error(err)
						return
					}
					if !bytes.Equal(buf[:n], content[off:min(off+int64(len(buf)), int64(len(content)))]) {
						t.Errorf("random read at %d differs", off)
						return
					}
				}
			}()
		}
		wg.Wait()

		// Pinning: open, replace the object behind the mount's back, read
		// a part neither the kernel nor the read-ahead has fetched (the
		// window starts at 1 MiB, and a jump to 30 MiB is a new ranged GET
		// of the version opened): that version is gone, so the read fails.
		// The TTL is as short as can be, so a new open sees the new
		// version at once.
		mt2 := mount(t, st, Options{Prefix: "v/", MetadataTTL: time.Nanosecond})
		f, err := os.Open(mt2.path("big"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 1000)
		if _, err := f.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, content[:1000]) {
			t.Fatalf("first read: %v", err)
		}
		putObject(t, st, "v/big", pattern(10, len(content)), nil)
		if _, err = f.ReadAt(buf, 30<<20); !errors.Is(err, syscall.EIO) {
			t.Fatalf("read of a part not fetched yet after the version opened was replaced: %v; want EIO (new data would mix versions)", err)
		}
		f.Close()
		if got := mt2.read("big"); !bytes.Equal(got, pattern(10, len(content))) {
			t.Fatal("a new open does not read the new version")
		}
	})
}

// TestListingCosts: ls -l (readdir plus a stat of every entry) costs LIST
// pages only on a store whose listings carry metadata (both backends here,
// MinIO through its metadata extension); on one whose listings do not
// (AWS S3, played by a store that hides the capability) it reads the
// metadata it lacks once, in parallel; a warm listing costs LIST pages and
// no HEAD; with FastListing a cold one does not either.
func TestListingCosts(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		t.Run("ListsMetadata", func(t *testing.T) { testListingCosts(t, st, true) })
		t.Run("NoListedMetadata", func(t *testing.T) { testListingCosts(t, noListedMetadata{st}, false) })
	})
}

// TestDirectoryLookupCost: looking up a directory that has a marker costs
// a HEAD of the file key and a LIST of one key in parallel; where listings
// carry metadata, that LIST brings the marker's attributes too, so no HEAD
// of the marker follows. Its mode shows either way.
func TestDirectoryLookupCost(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		for _, tc := range []struct {
			name      string
			st        store.Store
			wantStats int64
		}{
			{"ListsMetadata", st, 1},
			{"NoListedMetadata", noListedMetadata{st}, 2},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir := "v/" + tc.name
				putObject(t, st, dir+"/", nil, map[string]string{"mode": "16832"}) // drwx------
				putObject(t, st, dir+"/f", []byte("x"), nil)
				m := store.NewMetered(tc.st)
				mt := mount(t, m, Options{Prefix: "v/"})
				m.Reset()
				fi, err := os.Stat(mt.path(tc.name))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != os.ModeDir|0o700 {
					t.Errorf("mode %v, want drwx------ from the marker", fi.Mode())
				}
				if got := m.Snapshot(); got[store.ReqStat] != tc.wantStats || got[store.ReqList] != 1 {
					t.Errorf("looking up a directory cost %v; want %d stat and 1 list", got, tc.wantStats)
				}
			})
		}
	})
}

// noListedMetadata is a real store whose listings never carry metadata,
// as on AWS S3.
type noListedMetadata struct{ store.Store }

func (s noListedMetadata) List(ctx context.Context, opts store.ListOptions) iter.Seq2[store.Object, error] {
	opts.WithMetadata = false
	return s.Store.List(ctx, opts)
}

// testListingCosts: listsMeta says st's listings carry metadata.
func testListingCosts(t *testing.T, st store.Store, listsMeta bool) {
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			size := 0
			if i%2 == 1 {
				size = 5000
			}
			putObject(t, st, fmt.Sprintf("v/d/f%03d", i), make([]byte, size), map[string]string{"mode": "33216"})
		}()
	}
	wg.Wait()
	lsl := func(mt *mnt, m *store.Metered) map[string]int64 {
		t.Helper()
		if _, err := os.Stat(mt.path("d")); err != nil { // the directory's own lookup
			t.Fatal(err)
		}
		m.Reset()
		ents, err := os.ReadDir(mt.path("d"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			fi, err := os.Lstat(mt.path("d/" + e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if (mt.opts.FastListing && !listsMeta) == (fi.Mode() == 0o700) {
				t.Fatalf("%s: mode %v (fast listing: %v)", e.Name(), fi.Mode(), mt.opts.FastListing)
			}
		}
		if len(ents) != n {
			t.Fatalf("%d entries listed, want %d", len(ents), n)
		}
		return m.Snapshot()
	}
	m := store.NewMetered(st)
	// The mount's cached metadata expires when the test moves its clock,
	// so a pass slower than the TTL does not relist halfway; the kernel's
	// caches (also one TTL) expire in real time, waited for below.
	const ttl = time.Second
	clk := newTestClock()
	mt := mount(t, m, Options{Prefix: "v/", MetadataTTL: ttl, clock: clk.read})
	cold := lsl(mt, m)
	clk.advance(10 * ttl)                  // past every TTL, a slow listing's (counted from its end) included
	time.Sleep(ttl + 100*time.Millisecond) // the kernel's entry and attribute caches
	warm := lsl(mt, m)
	wantCold := int64(n)
	if listsMeta {
		wantCold = 0
	}
	if cold[store.ReqStat] != wantCold || warm[store.ReqStat] != 0 || warm[store.ReqList] == 0 || cold[store.ReqList] == 0 {
		t.Fatalf("ls -l of %d entries: cold %v, warm %v; want %d stat cold, 0 warm", n, cold, warm, wantCold)
	}
	fast := mount(t, m, Options{Prefix: "v/", FastListing: true})
	fastCold := lsl(fast, m)
	if fastCold[store.ReqStat] != 0 {
		t.Fatalf("ls -l with FastListing: %v, want 0 stat", fastCold)
	}
	t.Logf("ls -l of %d entries: cold %d list %d stat, warm %d list %d stat, fast listing %d list %d stat", n,
		cold[store.ReqList], cold[store.ReqStat], warm[store.ReqList], warm[store.ReqStat], fastCold[store.ReqList], fastCold[store.ReqStat])
}

// mountWithDir mounts st's v/ through a request counter, with a TTL, and
// makes the directory d in it.
func mountWithDir(t *testing.T, st store.Store, ttl time.Duration) (*store.Metered, *mnt) {
	t.Helper()
	m := store.NewMetered(st)
	mt := mount(t, m, Options{Prefix: "v/", MetadataTTL: ttl})
	if err := os.Mkdir(mt.path("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	return m, mt
}

// TestCreatesAfterExpiry: once a directory's listing has expired, the next
// lookup pays for its own name (a HEAD and a LIST) and starts a new listing
// in the background; the creates after it are answered from that listing
// (or wait for it), not with a HEAD and a LIST each.
func TestCreatesAfterExpiry(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		const ttl = time.Second
		m, mt := mountWithDir(t, st, ttl)
		mt.write("d/first", []byte("x"))
		time.Sleep(ttl + 200*time.Millisecond)
		m.Reset()
		start := time.Now()
		const n = 40
		for i := range n {
			mt.write(fmt.Sprintf("d/f%03d", i), []byte("x"))
			time.Sleep(2 * time.Millisecond)
		}
		got := m.Snapshot()
		// Per TTL elapsed, the kernel looks "d" up again in the root (a
		// HEAD, and one of d's marker where listings carry no metadata)
		// and one name in d may be looked up the slow way. Without the
		// background listing every create would pay a HEAD.
		ttls := int64(time.Since(start)/ttl) + 1
		if got[store.ReqPut] != n || got[store.ReqStat] > 3*ttls {
			t.Errorf("%d creates after the listing expired, over %v: %v; want %d put and at most %d stat",
				n, time.Since(start), got, n, 3*ttls)
		}
	})
}

// TestBigDirectoryNotRelistedPerLookup: an expired listing of a directory
// of several LIST pages is not refetched for a single lookup (the kernel
// passing through it once per TTL), only once lookups answered name by
// name have cost as many requests as the listing's pages.
func TestBigDirectoryNotRelistedPerLookup(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		const n = store.DefaultPage + 500 // two pages
		for i := range n {
			putObject(t, st, fmt.Sprintf("v/big/f%05d", i), []byte("x"), nil)
		}
		m := store.NewMetered(st)
		const ttl = time.Second
		mt := mount(t, m, Options{Prefix: "v/", MetadataTTL: ttl})
		if ents, err := os.ReadDir(mt.path("big")); err != nil || len(ents) != n {
			t.Fatalf("listing big: %d entries, %v", len(ents), err)
		}
		time.Sleep(ttl + 200*time.Millisecond)
		// lists looks name up and returns the LIST requests made until
		// want were made, or for a while.
		lists := func(name string, want int64) int64 {
			m.Reset()
			if _, err := os.Stat(mt.path("big/" + name)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("stat of a missing name: %v", err)
			}
			deadline := time.Now().Add(2 * time.Second) // room for a background listing
			for m.Snapshot()[store.ReqList] < want && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			return m.Snapshot()[store.ReqList]
		}
		// One LIST of a key each for "big" (in the root) and the name,
		// and the root's own one-page relisting: no relisting of big.
		if got := lists("missing1", 4); got > 3 {
			t.Errorf("one lookup in an expired listing of %d entries cost %d LIST requests; want at most 3 (no relisting)", n, got)
		}
		// The second lookup answered name by name makes two: big is
		// relisted (two pages) besides the name's own LIST.
		if got := lists("missing2", 3); got < 3 {
			t.Errorf("a second lookup in an expired listing of %d entries cost %d LIST requests; want the relisting too (at least 3)", n, got)
		}
	})
}

// TestCreateCosts: files created one after another in a directory made by
// this mount cost their PUT and nothing before it, also past the TTL (the
// listing is refreshed ahead of its expiry while in use); a file added
// elsewhere still shows up within the TTL.
func TestCreateCosts(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		const ttl = time.Second
		m, mt := mountWithDir(t, st, ttl)
		m.Reset()
		start := time.Now()
		n := 0
		for time.Since(start) < 3*ttl {
			mt.write(fmt.Sprintf("d/f%04d", n), []byte("x"))
			n++
			time.Sleep(5 * time.Millisecond)
		}
		got := m.Snapshot()
		// The kernel looks "d" itself up again once per TTL (a HEAD in
		// the root, never listed): that is all besides the PUTs.
		ttls := int64(time.Since(start)/ttl) + 1
		if got[store.ReqPut] != int64(n) || got[store.ReqStat] > ttls {
			t.Errorf("%d creates over %v: %v; want %d put and at most %d stat", n, time.Since(start), got, n, ttls)
		}
		// Listings refreshed ahead: a few, not one per create.
		if got[store.ReqList] > 3*ttls {
			t.Errorf("%d creates over %v cost %d LIST pages", n, time.Since(start), got[store.ReqList])
		}
		putObject(t, st, "v/d/remote", []byte("r"), nil)
		deadline := time.Now().Add(ttl + 500*time.Millisecond)
		for {
			_, err := os.Stat(mt.path("d/remote"))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a file added elsewhere is not visible after the TTL: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
