package s3store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// resetProxy is a TCP proxy in front of the test MinIO that resets
// connections (RST, as a dropped NAT entry or a restarted load balancer
// does) once they have carried some bytes of responses.
type resetProxy struct {
	ln     net.Listener
	target string
	// cut returns how many response bytes the n-th connection (from 1)
	// carries before it is reset; 0 means never.
	cut func(n int) int64
	// beforeReset, when set, runs just before a connection is reset.
	beforeReset func()
	resets      atomic.Int64

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startResetProxy(t *testing.T, targetURL string, cut func(n int) int64, beforeReset func()) *resetProxy {
	t.Helper()
	u, err := url.Parse(targetURL)
	if err != nil {
		t.Fatalf("parsing the MinIO URL %q: %v", targetURL, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &resetProxy{ln: ln, target: u.Host, cut: cut, beforeReset: beforeReset}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *resetProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *resetProxy) accept() {
	for n := 1; ; n++ {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		p.wg.Go(func() { p.serve(c, p.cut(n)) })
	}
}

func (p *resetProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

// serve relays one connection, resetting it after cut response bytes.
func (p *resetProxy) serve(c net.Conn, cut int64) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(up)
	defer up.Close()
	go io.Copy(up, c) // requests; ends when either side closes
	if cut <= 0 {
		io.Copy(c, up)
		return
	}
	if n, _ := io.CopyN(c, up, cut); n < cut {
		return // the connection ended by itself first
	}
	// The server's side goes first, so that it is done with the request
	// (MinIO holds a read lock while it sends) before beforeReset runs.
	up.Close()
	if p.beforeReset != nil {
		p.beforeReset()
	}
	c.(*net.TCPConn).SetLinger(0) // close with RST
	p.resets.Add(1)
}

func (p *resetProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// A connection reset in the middle of a GET body is resumed from where it
// stopped: every 20 MiB object reads back whole and correct although
// every connection through the proxy is reset after a few MiB (issue 13.10).
func TestGetResumesAfterConnectionReset(t *testing.T) {
	srv := sharedSrv(t)
	srv.NeedLocal(t)
	cfg := testConfig(srv, srv.NewBucket(t))
	direct := newStoreCfg(t, cfg)

	const size = 20 << 20
	const objects = 4
	want := make([][]byte, objects)
	for i := range want {
		want[i] = randomBytes(uint64(100+i), size)
		mustPut(t, direct, fmt.Sprintf("big/%d", i), want[i], store.PutOptions{})
	}

	// Every connection is reset after 1-8 MiB of responses (resetting
	// only every 2nd one would let keep-alive settle on a good one), so
	// every read is cut, most more than once; seeded, so a failure
	// replays.
	rng := rand.New(rand.NewPCG(13, 10))
	var rngMu sync.Mutex
	proxy := startResetProxy(t, srv.URL(), func(int) int64 {
		rngMu.Lock()
		defer rngMu.Unlock()
		return 1<<20 + rng.Int64N(7<<20)
	}, nil)
	pcfg := cfg
	pcfg.Endpoint = proxy.url()
	viaProxy := newStoreCfg(t, pcfg)

	for i := range objects {
		key := fmt.Sprintf("big/%d", i)
		got, obj := readAll(t, viaProxy, key, store.GetOptions{})
		if obj.Size != size || !bytes.Equal(got, want[i]) {
			t.Fatalf("%s read back as %d bytes (object size %d), equal %v; want its %d bytes",
				key, len(got), obj.Size, bytes.Equal(got, want[i]), size)
		}
		// A ranged read resumes within its range.
		off, n := int64(3<<20+7), int64(15<<20)
		got, _ = readAll(t, viaProxy, key, store.GetOptions{Offset: off, Length: n})
		if !bytes.Equal(got, want[i][off:off+n]) {
			t.Fatalf("%s range %d+%d read back as %d bytes, not the object's", key, off, n, len(got))
		}
	}
	if proxy.resets.Load() == 0 {
		t.Fatal("the proxy reset no connection: the test tested nothing")
	}
	t.Logf("%d connections reset during the reads", proxy.resets.Load())
}

// A resumed read is pinned to the ETag it started with: when the object
// changes between the cut and the resume, the read fails with
// ErrPreconditionFailed, and the bytes delivered before are all from the
// old object (never a mix).
func TestGetResumeRefusesChangedObject(t *testing.T) {
	srv := sharedSrv(t)
	srv.NeedLocal(t)
	cfg := testConfig(srv, srv.NewBucket(t))
	direct := newStoreCfg(t, cfg)
	const size = 12 << 20
	old, replacement := randomBytes(7, size), randomBytes(8, size)
	mustPut(t, direct, "obj", old, store.PutOptions{})

	// The first reset replaces the object before the client sees it.
	var once sync.Once
	replaced := make(chan error, 1)
	proxy := startResetProxy(t, srv.URL(), func(int) int64 { return 2 << 20 }, func() {
		once.Do(func() {
			_, err := direct.Put(ctxT(t), "obj", bytes.NewReader(replacement), size, store.PutOptions{})
			replaced <- err
		})
	})
	pcfg := cfg
	pcfg.Endpoint = proxy.url()
	viaProxy := newStoreCfg(t, pcfg)

	r, _, err := viaProxy.Get(ctxT(t), "obj", store.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	select {
	case rerr := <-replaced:
		if rerr != nil {
			t.Fatalf("replacing the object during the read: %v", rerr)
		}
	default:
		t.Fatalf("the read ended (%d bytes, err %v) without a connection reset", len(got), err)
	}
	if !errors.Is(err, store.ErrPreconditionFailed) {
		t.Fatalf("reading an object replaced mid-read: %d bytes, err %v; want ErrPreconditionFailed", len(got), err)
	}
	if !bytes.Equal(got, old[:len(got)]) {
		t.Fatalf("the %d bytes delivered before the failure are not the old object's", len(got))
	}
}
