package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// busyboxPath is Debian's busybox-static: one static binary, so the image
// needs no libraries.
const busyboxPath = "/bin/busybox"

// applets become symlinks to busybox in the image's /bin.
var applets = []string{
	"sh", "ls", "cat", "echo", "mkdir", "rm", "rmdir", "test", "[", "sleep", "touch", "ln",
	"readlink", "realpath", "cp", "mv", "stat", "find", "grep", "wc", "head", "tail", "sync",
	"chmod", "chown", "id", "true", "false", "pwd", "env", "sha256sum", "md5sum", "dd", "du",
	"df", "cmp", "diff", "seq", "printf", "tee", "sort", "xargs", "basename", "dirname",
	"tar", "date", "uname", "hostname", "mount", "ps", "kill", "yes",
}

// buildImage imports the busybox image unless the engine already has it.
func (d *Docker) buildImage() error {
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	inspect := exec.CommandContext(ctx, dockerCLI(), "image", "inspect", "--format", "{{.Id}}", d.Image)
	inspect.Env = d.Env()
	if inspect.Run() == nil {
		return nil
	}
	rootfs, err := busyboxRootfs()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, dockerCLI(), "import",
		"--change", `CMD ["/bin/sh"]`, "--change", "ENV PATH=/bin", "-", d.Image)
	cmd.Env = d.Env()
	cmd.Stdin = bytes.NewReader(rootfs)
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("docker import of the busybox image: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// busyboxRootfs is a tar of a minimal root: /bin/busybox with its applets,
// /etc/passwd and /etc/group (root and a user 1000), and empty /tmp, /data.
func busyboxRootfs() ([]byte, error) {
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s (apt-get install busybox-static): %w", busyboxPath, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	var werr error // the first write error; later writes are then no-ops
	write := func(h *tar.Header, body []byte) {
		if werr == nil {
			werr = tw.WriteHeader(h)
		}
		if werr == nil && len(body) > 0 {
			_, werr = tw.Write(body)
		}
	}
	dir := func(name string, mode int64) {
		write(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: now}, nil)
	}
	file := func(name string, mode int64, body []byte) {
		write(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: now}, body)
	}
	for _, d := range []string{"bin", "etc", "data", "proc", "sys", "dev"} {
		dir(d, 0o755)
	}
	dir("tmp", 0o1777)
	file("bin/busybox", 0o755, bin)
	for _, a := range applets {
		write(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: now}, nil)
	}
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nuser:x:1000:\n"))
	if werr == nil {
		werr = tw.Close()
	}
	if err := werr; err != nil {
		return nil, fmt.Errorf("building the busybox image tar: %w", err)
	}
	return buf.Bytes(), nil
}
