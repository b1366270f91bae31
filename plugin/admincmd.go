package main

import (
	"context"
	"io"
)

// runAdminCommand runs `s3vol volume|org|repair ...` (args include the
// command): it parses the configuration flags, connects to the store and
// hands the rest to runAdmin (admin.go).
func runAdminCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(args[0], stderr)
	cfg, err := parseConfig(fs, args[1:])
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	reg, _, _, err := openRegistry(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer reg.Close()
	return runAdmin(ctx, append([]string{args[0]}, fs.Args()...), reg, stdout)
}
