package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/s3vol/s3vol/internal/miniotest"
)

// linuxFeatures are the HAVE_* flags pjdfstest's configure script finds on
// Linux with glibc: passing them to cc spares the autotools.
var linuxFeatures = []string{
	"_GNU_SOURCE", "HAVE_SYS_SYSMACROS_H",
	"HAVE_OPENAT", "HAVE_UNLINKAT", "HAVE_MKDIRAT", "HAVE_LINKAT", "HAVE_SYMLINKAT",
	"HAVE_RENAMEAT", "HAVE_MKFIFOAT", "HAVE_MKNODAT", "HAVE_FCHMODAT", "HAVE_FCHOWNAT",
	"HAVE_FSTATAT", "HAVE_FACCESSAT", "HAVE_READLINKAT", "HAVE_POSIX_FALLOCATE",
	"HAVE_UTIMENSAT", "HAVE_STRUCT_STAT_ST_ATIM", "HAVE_STRUCT_STAT_ST_MTIM",
	"HAVE_STRUCT_STAT_ST_CTIM",
}

// ensureSuite returns the folder holding the built pjdfstest program and
// a copy of its tests (the scripts find the program in a folder above
// them). It is built once per version of the sources in src, into the
// cache.
func ensureSuite(src string) (string, error) {
	sum, err := hashTree(src)
	if err != nil {
		return "", err
	}
	cache, err := miniotest.CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "pjdfstest-"+sum[:12])
	if _, err := os.Stat(filepath.Join(dir, "pjdfstest")); err == nil {
		return dir, nil
	}
	fmt.Fprintf(os.Stderr, "posix: building pjdfstest into %s\n", dir)
	tmp, err := os.MkdirTemp(cache, "pjdfstest-build-")
	if err != nil {
		return "", fmt.Errorf("creating pjdfstest's build folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.CopyFS(filepath.Join(tmp, "tests"), os.DirFS(filepath.Join(src, "tests"))); err != nil {
		return "", fmt.Errorf("copying pjdfstest's tests: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "config.h"), nil, 0o644); err != nil {
		return "", fmt.Errorf("writing pjdfstest's config.h: %w", err)
	}
	args := []string{"-O2", "-I", tmp, "-o", filepath.Join(tmp, "pjdfstest"), filepath.Join(src, "pjdfstest.c")}
	for _, f := range linuxFeatures {
		args = append(args, "-D"+f)
	}
	cc := exec.Command("cc", args...)
	cc.Stdout, cc.Stderr = os.Stderr, os.Stderr
	if err := cc.Run(); err != nil {
		return "", fmt.Errorf("compiling pjdfstest (Debian: apt-get install gcc): %w", err)
	}
	// The test scripts are run with sh, by path: they need not be
	// executable, but the program must be.
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("moving pjdfstest into the cache: %w", err)
	}
	return dir, nil
}

// hashTree hashes the names and contents of the files under dir.
func hashTree(dir string) (string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("reading pjdfstest's sources in %s: %w", dir, err)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, p := range files {
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s\x00", rel)
		f, err := os.Open(p)
		if err != nil {
			return "", fmt.Errorf("reading pjdfstest's sources: %w", err)
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", p, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
