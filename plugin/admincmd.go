package main

import (
	"context"
	"io"
	"strings"
)

// runAdminCommand runs `s3vol volume|org|repair ...` (args include the
// command): it parses the configuration flags, connects to the store and
// hands the rest to runAdmin (admin.go).
func runAdminCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(args[0], stderr)
	configArgs, rest := splitConfigFlags(args[1:])
	cfg, extra, err := parseConfig(fs, configArgs)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	reg, _, _, err := openRegistry(ctx, cfg, log, "") // holds no leases
	if err != nil {
		return err
	}
	defer reg.Close()
	cmd := append([]string{args[0]}, extra...)
	return runAdmin(ctx, append(cmd, rest...), reg, stdout, stderr)
}

// splitConfigFlags takes the configuration flags (--org acme, --org=acme,
// -org acme) out of args wherever they are, so that `s3vol volume ls --org
// acme` works as well as `s3vol volume --org acme ls`; the subcommand's own
// flags and names stay in rest, in order.
func splitConfigFlags(args []string) (config, rest []string) {
	known := make(map[string]bool, len(settings))
	for _, s := range settings {
		known[s.flag] = true
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return config, append(rest, args[i:]...)
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !known[name] {
			rest = append(rest, a)
			continue
		}
		config = append(config, a)
		if !hasValue && i+1 < len(args) {
			i++
			config = append(config, args[i])
		}
	}
	return config, rest
}
