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
	"slices"
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
  s3vol stats [--addr HOST:PORT] [--interval 1s]   live per-volume throughput of a running daemon
  s3vol version                                    print the version
  s3vol help [COMMAND]                             show help

Flags may go anywhere on the line, before or after the command's words:
s3vol --endpoint X volume ls and s3vol volume ls --endpoint X are the same.
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
	if len(args) > 0 && !topLevelFlags[args[0]] {
		args = commandWordsFirst(args)
	}
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && !topLevelFlags[args[0]]) {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given; commands: serve, mount, volume, org, repair, stats, version, help"}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "mount":
		return runMount(ctx, rest, stderr)
	case "volume", "org", "repair":
		return runAdminCommand(ctx, args, stdout, stderr)
	case "stats":
		return runStats(ctx, rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "s3vol", version)
		return nil
	case "help", "-h", "--help":
		return runHelp(rest, stdout)
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q; commands: serve, mount, volume, org, repair, stats, version, help", cmd)}
}

func runHelp(args []string, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") { // flags only: no command named
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[0] {
	case "stats":
		fmt.Fprint(stdout, statsUsage)
		return nil
	case "serve", "mount", "volume", "org", "repair":
		if args[0] != "serve" && args[0] != "mount" {
			fmt.Fprint(stdout, adminUsage+"\n")
		}
		fs := newFlagSet(args[0], stdout)
		addConfigFlags(fs)
		if args[0] == "mount" {
			addMountFlags(fs)
		}
		fmt.Fprintf(stdout, "Flags of s3vol %s (each also read from its S3VOL_* variable):\n", args[0])
		fs.PrintDefaults()
		return nil
	}
	return usageError{fmt.Sprintf("no help for %q; commands: %s", args[0], "serve, mount, volume, org, repair, stats")}
}

func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("s3vol "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// parseConfig parses a command's flags, wherever they are among its
// arguments, and resolves the configuration. It returns the arguments that
// are not flags, in order.
func parseConfig(fs *flag.FlagSet, args []string) (*Config, []string, error) {
	cf := addConfigFlags(fs)
	positional, err := parseFlagsAnywhere(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, usageError{err.Error()}
	}
	cfg, err := cf.resolve(os.Getenv)
	return cfg, positional, err
}

// parseFlagsAnywhere parses flags placed before, between or after the
// positional arguments (the flag package stops at the first positional
// one) and returns the positional arguments. Everything after "--" is
// positional.
func parseFlagsAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional, afterDashes []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, afterDashes = args[:i], args[i+1:]
	}
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(positional, afterDashes...), nil
		}
		positional, args = append(positional, args[0]), args[1:]
	}
}

// topLevelFlags are the flags that stand for a command of their own.
var topLevelFlags = map[string]bool{"-h": true, "--help": true, "-v": true, "--version": true}

// commandWordsFirst moves the command's words (serve, mount, ...; and the
// subcommand of volume and org) before every flag, so that a flag may be
// written anywhere on the line: `s3vol --org acme volume ls`, `s3vol volume
// --org acme ls` and `s3vol volume ls --org acme` are the same command.
// The other arguments keep their order. A flag's value is told from a word
// by the flag's kind: every flag that is not boolean takes one.
func commandWordsFirst(args []string) []string {
	takesValue := flagsTakingValues()
	var words, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			rest = append(rest, a)
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if takesValue[name] && !hasValue && i+1 < len(args) {
				i++
				rest = append(rest, args[i])
			}
		case len(words) < commandWordCount(words):
			words = append(words, a)
		default:
			rest = append(rest, a)
		}
	}
	return append(words, rest...)
}

// commandWordCount is how many words name the command that words begins
// (help's word is the command it explains).
func commandWordCount(words []string) int {
	if len(words) > 0 && (words[0] == "volume" || words[0] == "volumes" || words[0] == "org" || words[0] == "help") {
		return 2
	}
	return 1
}

// flagsTakingValues lists every flag of every command that is not boolean.
func flagsTakingValues() map[string]bool {
	fs := flag.NewFlagSet("all", flag.ContinueOnError)
	addConfigFlags(fs)
	addMountFlags(fs)
	addCreateFlags(fs)
	takesValue := make(map[string]bool)
	fs.VisitAll(func(f *flag.Flag) {
		b, ok := f.Value.(interface{ IsBoolFlag() bool })
		takesValue[f.Name] = !ok || !b.IsBoolFlag()
	})
	return takesValue
}

func joinArgs(args []string) string { return strings.Join(args, " ") }
