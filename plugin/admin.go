package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/s3vol/s3vol/driver"
	"github.com/s3vol/s3vol/registry"
)

const adminUsage = `Admin commands (the registry without Docker, against the configured store):
  s3vol volume ls [--json]
  s3vol volume create [-o key=value]... [--label key=value]... [--json] NAME
        options: volume=NAME subpath=PATH (a subpath view), ro, uid=N, gid=N, mode=OCTAL,
                 label.KEY=VALUE (the same as --label KEY=VALUE)
  s3vol volume inspect [--json] NAME...
  s3vol volume rm NAME...
  s3vol org show [--json]
  s3vol org set-limit [--json] N
  s3vol repair [--json]
`

// runAdmin runs an admin command on reg. args starts with the command
// ("volume", "org" or "repair"), then its subcommand and arguments; flags
// may come before or after the names. Output goes to stdout: tables, or JSON
// with --json.
// What a command waits for goes to stderr.
func runAdmin(ctx context.Context, args []string, reg *registry.Registry, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return adminUsageErr("no admin command given; commands: volume, org, repair")
	}
	a := &admin{reg: reg, out: stdout, notes: stderr}
	switch args[0] {
	case "volume", "volumes":
		return a.volume(ctx, args[1:])
	case "org":
		return a.org(ctx, args[1:])
	case "repair":
		return a.repair(ctx, args[1:])
	}
	return adminUsageErr(fmt.Sprintf("unknown admin command %q; commands: volume, org, repair", args[0]))
}

func adminUsageErr(msg string) error { return usageError{msg + "\n\n" + adminUsage} }

type admin struct {
	reg   *registry.Registry
	out   io.Writer
	notes io.Writer // what the command waits for
}

func (a *admin) volume(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return adminUsageErr("s3vol volume: give a subcommand: ls, create, inspect or rm")
	}
	switch args[0] {
	case "ls", "list":
		return a.volumeLs(ctx, args[1:])
	case "create":
		return a.volumeCreate(ctx, args[1:])
	case "inspect":
		return a.volumeInspect(ctx, args[1:])
	case "rm", "remove":
		return a.volumeRm(ctx, args[1:])
	}
	return adminUsageErr(fmt.Sprintf("s3vol volume: unknown subcommand %q; subcommands: ls, create, inspect, rm", args[0]))
}

func (a *admin) volumeLs(ctx context.Context, args []string) error {
	fs, asJSON := a.flags("volume ls")
	names, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(names) > 0 {
		return adminUsageErr(fmt.Sprintf("s3vol volume ls takes no names (got %q)", names))
	}
	entries, err := a.reg.List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		out := make([]entryJSON, len(entries))
		for i, e := range entries {
			out[i] = toJSON(e, nil)
		}
		return a.json(out)
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSTATE\tVOLUME\tSUBPATH\tCREATED\tID")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Kind, stateText(e), dash(e.Volume), dash(e.Subpath),
			e.CreatedAt.Local().Format(time.DateTime), e.ID)
	}
	return tw.Flush()
}

func (a *admin) volumeCreate(ctx context.Context, args []string) error {
	fs, asJSON := a.flags("volume create")
	opts, labels := addCreateFlags(fs)
	names, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(names) != 1 {
		return adminUsageErr(fmt.Sprintf("s3vol volume create takes exactly one name (got %d)", len(names)))
	}
	spec, err := registry.ParseSpec(names[0], opts)
	if err != nil {
		return err
	}
	for k, v := range labels { // --label, besides any -o label.KEY=VALUE
		if spec.Labels == nil {
			spec.Labels = make(map[string]string)
		}
		spec.Labels[k] = v
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	e, created, err := a.reg.Create(ctx, spec)
	if err != nil {
		return err
	}
	if *asJSON {
		j := toJSON(e, nil)
		j.Created = &created
		return a.json(j)
	}
	if !created {
		fmt.Fprintf(a.out, "%s (already existed, same options)\n", e.Name)
		return nil
	}
	fmt.Fprintln(a.out, e.Name)
	return nil
}

func (a *admin) volumeInspect(ctx context.Context, args []string) error {
	fs, asJSON := a.flags("volume inspect")
	names, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return adminUsageErr("s3vol volume inspect: give at least one name")
	}
	var out []entryJSON
	var errs []error
	for _, name := range names {
		e, err := a.reg.Get(ctx, name)
		if err == nil {
			var leases []registry.LeaseInfo
			if leases, err = a.reg.Leases(ctx, e.ID); err == nil {
				j := toJSON(e, leases)
				j.Usage, err = a.usage(ctx, e)
				out = append(out, j)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if *asJSON {
		if out == nil {
			out = []entryJSON{}
		}
		if err := a.json(out); err != nil {
			return err
		}
	} else {
		for i, e := range out {
			if i > 0 {
				fmt.Fprintln(a.out)
			}
			a.describe(e)
		}
	}
	return errors.Join(errs...)
}

// usage reads the entry's last measured size (nil when none was taken).
func (a *admin) usage(ctx context.Context, e registry.Entry) (*registry.Usage, error) {
	u, ok, err := a.reg.Usage(ctx, e.ID)
	if err != nil || !ok {
		return nil, err
	}
	return &u, nil
}

// describe prints one entry as aligned "key: value" lines.
func (a *admin) describe(e entryJSON) {
	tw := tabwriter.NewWriter(a.out, 0, 0, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Name", e.Name)
	row("Kind", string(e.Kind))
	row("ID", e.ID)
	row("Organization", e.Org)
	state := string(e.State)
	if e.Reason != "" {
		state += " (" + e.Reason + ")"
	}
	row("State", state)
	if e.Kind == registry.KindView {
		row("Volume", e.Volume)
		row("Subpath", e.Subpath)
	}
	row("Created", e.CreatedAt.Local().Format(time.RFC3339)+" by "+dash(e.CreatedBy))
	row("Data prefix", e.DataPrefix)
	row("Options", fmt.Sprintf("ro=%t uid=%d gid=%d mode=%s", e.Options.ReadOnly, e.Options.UID, e.Options.GID, e.Options.Mode))
	row("Labels", formatLabels(e.Labels))
	size := "not measured yet (the daemon measures every volume in the background)"
	if e.Usage != nil {
		size = driver.FormatUsage(*e.Usage)
	}
	row("Size", size)
	now := time.Now()
	if len(e.Leases) == 0 {
		row("Mounted on", "-")
	}
	for i, l := range e.Leases {
		k := ""
		if i == 0 {
			k = "Mounted on"
		}
		status := fmt.Sprintf("expires in %s", l.ExpiresAt.Sub(now).Round(time.Second))
		if !l.Live(now) {
			status = "expired (host gone)"
		}
		fmt.Fprintf(tw, "%s\t%s, %d mount(s), %s\n", k+":", l.Host, l.Count, status)
	}
	tw.Flush()
}

func (a *admin) volumeRm(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("s3vol volume rm", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	names, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return adminUsageErr("s3vol volume rm: give at least one name")
	}
	var errs []error
	for _, name := range names {
		if err := a.reg.Delete(ctx, name); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(a.out, name)
	}
	// The data goes in the background; this process must not exit first.
	// A purge put off for a lease that had expired may wait more than a
	// minute: say so. Leaving it to the background would leave it to the
	// next daemon start, which may be far off.
	putOff := a.reg.PutOffPurges()
	for _, p := range putOff {
		fmt.Fprintf(a.notes, "s3vol: waiting until %s (in %s) to remove the data of %q: a host's mount lease on it had expired, and a write that host had in flight may land until then; Ctrl-C stops waiting and leaves the removal to the next start of an s3vol daemon of this organization\n",
			p.At.Local().Format(time.TimeOnly), time.Until(p.At).Round(time.Second), p.Name)
	}
	if err := a.reg.WaitPurges(ctx); err != nil {
		errs = append(errs, err)
	} else if len(putOff) > 0 {
		fmt.Fprintln(a.notes, "s3vol: data removed")
	}
	return errors.Join(errs...)
}

func (a *admin) org(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return adminUsageErr("s3vol org: give a subcommand: show or set-limit N")
	}
	fs, asJSON := a.flags("org " + args[0])
	rest, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	var info registry.OrgInfo
	switch args[0] {
	case "show":
		if len(rest) > 0 {
			return adminUsageErr(fmt.Sprintf("s3vol org show takes no arguments (got %q)", rest))
		}
		info, err = a.reg.Org(ctx)
	case "set-limit":
		if len(rest) != 1 {
			return adminUsageErr("s3vol org set-limit: give the new limit, a number of volumes, e.g. s3vol org set-limit 200")
		}
		n, perr := strconv.Atoi(rest[0])
		if perr != nil {
			return adminUsageErr(fmt.Sprintf("s3vol org set-limit: %q is not a number of volumes", rest[0]))
		}
		info, err = a.reg.SetLimit(ctx, n)
	default:
		return adminUsageErr(fmt.Sprintf("s3vol org: unknown subcommand %q; subcommands: show, set-limit N", args[0]))
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return a.json(info)
	}
	limit := strconv.Itoa(info.Limit)
	if !info.LimitSet {
		limit += " (default)"
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "Organization:\t%s\n", info.Name)
	fmt.Fprintf(tw, "Volume limit:\t%s\n", limit)
	fmt.Fprintf(tw, "Volumes:\t%d of %d in use\n", info.Used, info.Limit)
	fmt.Fprintf(tw, "Views:\t%d (not counted)\n", info.Views)
	if info.Purging > 0 {
		fmt.Fprintf(tw, "Purging:\t%d deleted volume(s) whose data is being removed\n", info.Purging)
	}
	return tw.Flush()
}

func (a *admin) repair(ctx context.Context, args []string) error {
	fs, asJSON := a.flags("repair")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return adminUsageErr(fmt.Sprintf("s3vol repair takes no arguments (got %q)", rest))
	}
	rep, err := a.reg.Repair(ctx)
	if *asJSON {
		if jerr := a.json(rep); jerr != nil {
			return jerr
		}
		return err
	}
	if rep.Empty() {
		fmt.Fprintln(a.out, "Nothing to repair.")
		return err
	}
	line := func(what string, names []string) {
		if len(names) > 0 {
			fmt.Fprintf(a.out, "%s: %s\n", what, strings.Join(names, ", "))
		}
	}
	line("Rolled back interrupted creates", rep.RolledBack)
	line("Finished interrupted deletes", rep.Finished)
	line("Restored interrupted deletes (still mounted)", rep.Restored)
	line("Purged the data of deleted volumes", rep.Purged)
	if rep.Leases > 0 {
		fmt.Fprintf(a.out, "Removed dead leases: %d\n", rep.Leases)
	}
	line("Volumes in state error (inspect them, then rm or create again)", rep.Failed)
	line("Data prefixes owned by no volume (left alone; check and delete by hand)", rep.Orphans)
	return err
}

// addCreateFlags registers the flags of `s3vol volume create`: its options
// and labels.
func addCreateFlags(fs *flag.FlagSet) (opts, labels keyValues) {
	opts, labels = keyValues{}, keyValues{}
	fs.Var(opts, "o", "an option as key=value (repeatable)")
	fs.Var(opts, "opt", "same as -o")
	fs.Var(labels, "label", "a label as key=value (repeatable)")
	return opts, labels
}

// flags makes a subcommand's flag set with --json.
func (a *admin) flags(name string) (*flag.FlagSet, *bool) {
	fs := flag.NewFlagSet("s3vol "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, with the usage text
	return fs, fs.Bool("json", false, "print JSON")
}

func (a *admin) json(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseInterleaved parses flags placed before, between or after positional
// arguments (the flag package stops at the first positional one), and
// returns the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := parseFlagsAnywhere(fs, args)
	if err != nil {
		return nil, adminUsageErr(fmt.Sprintf("%s: %v", fs.Name(), err))
	}
	return pos, nil
}

// keyValues is a repeatable key=value flag.
type keyValues map[string]string

func (kv keyValues) String() string { return formatLabels(kv) }

func (kv keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if k == "" {
		return fmt.Errorf("%q is not key=value", s)
	}
	if !ok && k != "ro" { // "-o ro" alone means read-only
		return fmt.Errorf("%q is not key=value", s)
	}
	kv[k] = v
	return nil
}

// entryJSON is the --json form of an entry.
type entryJSON struct {
	Name       string               `json:"name"`
	ID         string               `json:"id"`
	Kind       registry.Kind        `json:"kind"`
	Org        string               `json:"org"`
	State      registry.State       `json:"state"`
	Reason     string               `json:"reason,omitempty"`
	CreatedAt  time.Time            `json:"createdAt"`
	CreatedBy  string               `json:"createdBy,omitempty"`
	Labels     map[string]string    `json:"labels,omitempty"`
	Options    optionsJSON          `json:"options"`
	DataPrefix string               `json:"dataPrefix"`
	Volume     string               `json:"volume,omitempty"`
	VolumeID   string               `json:"volumeId,omitempty"`
	Subpath    string               `json:"subpath,omitempty"`
	Leases     []registry.LeaseInfo `json:"leases,omitempty"`
	Created    *bool                `json:"created,omitempty"`
	// Usage is the last measurement of its size (inspect only).
	Usage *registry.Usage `json:"usage,omitempty"`
}

// optionsJSON is the --json form of a volume's options: the mode as an
// octal string ("0755"), as it is written with -o mode=, not as the
// decimal number (493) the same bits make.
type optionsJSON struct {
	ReadOnly bool   `json:"readOnly,omitempty"`
	UID      uint32 `json:"uid"`
	GID      uint32 `json:"gid"`
	Mode     string `json:"mode"`
}

func toJSON(e registry.Entry, leases []registry.LeaseInfo) entryJSON {
	opts := optionsJSON{ReadOnly: e.Options.ReadOnly, UID: e.Options.UID, GID: e.Options.GID, Mode: fmt.Sprintf("%04o", e.Options.Mode)}
	return entryJSON{
		Name: e.Name, ID: e.ID, Kind: e.Kind, Org: e.Org, State: e.State, Reason: e.Reason,
		CreatedAt: e.CreatedAt, CreatedBy: e.CreatedBy, Labels: e.Labels, Options: opts,
		DataPrefix: e.DataPrefix, Volume: e.Volume, VolumeID: e.VolumeID, Subpath: e.Subpath, Leases: leases,
	}
}

func stateText(e registry.Entry) string {
	if e.State == registry.StateError {
		return "error: " + e.Reason
	}
	return string(e.State)
}

func formatLabels(l map[string]string) string {
	if len(l) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(l))
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ", ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
