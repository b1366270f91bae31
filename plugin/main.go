// Command s3vol is s3vol's one binary: the Docker volume plugin daemon
// (s3vol serve), a standalone FUSE mount (s3vol mount) and the admin
// commands (s3vol volume|org|repair).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// version is set at build time (-ldflags -X main.version=...).
var version = "dev"

const usage = `s3vol: shared, persistent Docker volumes stored in an S3-compatible object store

Usage:
  s3vol serve [flags]                              run the Docker volume plugin
  s3vol mount [flags] [--subpath P] [--ro] VOLUME DIR   mount a volume without Docker
  s3vol volume ls|create|inspect|rm [flags] ...    manage volumes without Docker
  s3vol org show|set-limit N [flags]               show the organization, set its volume limit
  s3vol repair [flags]                             finish or roll back interrupted creates and deletes
  s3vol version                                    print the version
  s3vol help [COMMAND]                             show help

Every flag can also be set by the environment variable of the same name,
e.g. --endpoint and S3VOL_ENDPOINT; the flag wins. Run "s3vol help serve"
for the list.
`

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "s3vol:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage errors, 1 for everything else.
func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// usageError is a command line the program cannot make sense of.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "mount":
		return runMount(ctx, rest, stderr)
	case "volume", "org", "repair":
		return runAdminCommand(ctx, args, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "s3vol", version)
		return nil
	case "help", "-h", "--help":
		return runHelp(rest, stdout)
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q; commands: serve, mount, volume, org, repair, version, help", cmd)}
}

func runHelp(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[0] {
	case "serve", "mount", "volume", "org", "repair":
		fs := newFlagSet(args[0], stdout)
		addConfigFlags(fs)
		if args[0] == "mount" {
			addMountFlags(fs)
		}
		fmt.Fprintf(stdout, "Flags of s3vol %s (each also read from its S3VOL_* variable):\n", args[0])
		fs.PrintDefaults()
		return nil
	}
	return usageError{fmt.Sprintf("no help for %q; commands: %s", args[0], "serve, mount, volume, org, repair")}
}

func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("s3vol "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// parseConfig parses a command's flags and resolves the configuration.
func parseConfig(fs *flag.FlagSet, args []string) (*Config, error) {
	cf := addConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	return cf.resolve(os.Getenv)
}

func joinArgs(args []string) string { return strings.Join(args, " ") }
