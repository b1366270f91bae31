// Command posix runs pjdfstest, the POSIX conformance suite filesystems
// are judged by, against s3fs mounted over the built-in local store and
// over a MinIO it starts itself, and prints how many tests passed and
// failed per syscall group (chmod, mkfifo, rename, ...).
//
// Some failures are s3vol's design (hard links, S3's key length): they are
// listed with their reason in posix/allowed.txt. The run fails on any
// failure not listed there, so a regression shows.
//
//	make posix                       # both stores
//	go run ./posix -stores local -groups mkfifo,rename
//
// It needs root (the suite changes owners and users), FUSE and a C
// compiler: pjdfstest's sources are vendored in third_party/pjdfstest and
// built once into the cache folder (~/.cache/s3vol).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "posix:", err)
		os.Exit(1)
	}
}

type config struct {
	stores  []string
	groups  []string
	jobs    int
	allowed string
	src     string
	verbose bool
}

func parseFlags() config {
	var c config
	stores := flag.String("stores", "local,minio", "stores to test: local, minio or both, comma-separated")
	groups := flag.String("groups", "", "syscall groups to run (e.g. chmod,mkfifo); empty for all")
	flag.IntVar(&c.jobs, "jobs", 3, "test scripts run at once")
	flag.StringVar(&c.allowed, "allowed", "posix/allowed.txt", "the file of failures allowed by design")
	flag.StringVar(&c.src, "src", "third_party/pjdfstest", "pjdfstest's sources")
	flag.BoolVar(&c.verbose, "v", false, "also list the allowed failures")
	flag.Parse()
	c.stores = splitList(*stores)
	c.groups = splitList(*groups)
	return c
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func run() error {
	cfg := parseFlags()
	if os.Geteuid() != 0 {
		return fmt.Errorf("pjdfstest switches users and owners, and the filesystem is mounted with FUSE: run it as root")
	}
	for _, s := range cfg.stores {
		if s != "local" && s != "minio" {
			return fmt.Errorf("store %q: want local or minio", s)
		}
	}
	allowed, err := loadAllowed(cfg.allowed)
	if err != nil {
		return err
	}
	suite, err := ensureSuite(cfg.src)
	if err != nil {
		return err
	}
	list, err := scripts(suite, cfg.groups)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return fmt.Errorf("no test scripts in groups %v", cfg.groups)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	newFailures := 0
	for _, name := range cfg.stores {
		results, err := runOnStore(ctx, name, suite, list, cfg.jobs)
		if err != nil {
			return fmt.Errorf("on the %s store: %w", name, err)
		}
		newFailures += report(os.Stdout, name, results, allowed, cfg.verbose)
	}
	if newFailures > 0 {
		return fmt.Errorf("%d failures not in %s", newFailures, cfg.allowed)
	}
	return nil
}
