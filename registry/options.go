package registry

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// AcceptedOptions lists the option keys ParseSpec accepts, for messages.
var AcceptedOptions = []string{"volume", "subpath", "ro", "uid", "gid", "mode", LabelOptionPrefix + "KEY"}

// LabelOptionPrefix starts the options that set a label of the volume:
// -o label.team=web. Docker keeps `docker volume create --label` to itself
// (its Create call to a plugin carries only the name and the -o options),
// so labels meant for the volume's record come this way.
const LabelOptionPrefix = "label."

const acceptedText = "volume=NAME and subpath=PATH (a subpath view of a volume), " +
	"ro[=true|false] (also yes|no, on|off, 1|0), uid=N, gid=N, mode=OCTAL (e.g. 0755), " +
	"label.KEY=VALUE (a label kept with the volume)"

// Limits on labels, which live in the registry's records.
const (
	maxLabels        = 32
	maxLabelKeyLen   = 128
	maxLabelValueLen = 512
)

// BoolSpellings are the values every boolean option and setting accepts,
// in any case: the ro option of volumes and the daemon's S3VOL_TLS,
// S3VOL_AUTHZ and the like.
const BoolSpellings = "true|false, yes|no, on|off, 1|0"

// ParseSpec builds a Spec from Docker's -o options (docker volume create -o
// key=value). Unknown keys and bad values are refused with a message that
// lists what is accepted.
func ParseSpec(name string, opts map[string]string) (Spec, error) {
	spec := Spec{Name: name, Options: Options{Mode: DefaultMode}}
	for _, k := range sortedKeys(opts) {
		if err := spec.setOption(k, opts[k]); err != nil {
			return Spec{}, err
		}
	}
	if err := spec.Validate(); err != nil {
		return Spec{}, err
	}
	return spec, nil
}

func (s *Spec) setOption(key, val string) error {
	var err error
	switch key {
	case "volume":
		s.Volume = val
	case "subpath":
		s.Subpath = val
	case "ro", "readonly", "read-only":
		s.Options.ReadOnly = true // "-o ro" alone means read-only
		if val != "" {
			s.Options.ReadOnly, err = ParseBool(val)
		}
	case "uid":
		s.Options.UID, err = parseID(val)
	case "gid":
		s.Options.GID, err = parseID(val)
	case "mode":
		s.Options.Mode, err = parseMode(val)
	default:
		if k, ok := strings.CutPrefix(key, LabelOptionPrefix); ok {
			return s.setLabel(k, val)
		}
		return errorf(ErrInvalid, "unknown option %q; accepted options: %s", key, acceptedText)
	}
	if err != nil {
		return errorf(ErrInvalid, "invalid value %q for option %q: %v; accepted options: %s", val, key, err, acceptedText)
	}
	return nil
}

func (s *Spec) setLabel(key, val string) error {
	if key == "" {
		return errorf(ErrInvalid, "option %q names no label; write label.KEY=VALUE, e.g. label.team=web", LabelOptionPrefix)
	}
	if s.Labels == nil {
		s.Labels = make(map[string]string)
	}
	s.Labels[key] = val
	return nil
}

// Validate checks a Spec built by hand (ParseSpec calls it).
func (s Spec) Validate() error {
	if err := ValidateName(s.Name); err != nil {
		return err
	}
	if err := validateLabels(s.Labels); err != nil {
		return err
	}
	if s.Options.Mode&^0o7777 != 0 {
		return errorf(ErrInvalid, "invalid mode %#o: a mode is an octal permission from 1 to 07777 (0 means the default, 0755)", s.Options.Mode)
	}
	switch {
	case s.Volume == "" && s.Subpath != "":
		return errorf(ErrInvalid, "option subpath=%q needs volume=NAME: a subpath view names the volume it shows", s.Subpath)
	case s.Volume != "" && s.Subpath == "":
		return errorf(ErrInvalid, "option volume=%q needs subpath=PATH: a view shows one folder of the volume, e.g. subpath=users/alice", s.Volume)
	case s.Volume == "":
		return nil
	}
	if err := ValidateName(s.Volume); err != nil {
		return err
	}
	if s.Volume == s.Name {
		return errorf(ErrInvalid, "view %q cannot point at itself; name the volume it shows with volume=NAME", s.Name)
	}
	return ValidateSubpath(s.Subpath)
}

// ParseBool reads a boolean written as one of BoolSpellings.
func ParseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean; use %s", BoolSpellings)
}

func validateLabels(labels map[string]string) error {
	if len(labels) > maxLabels {
		return errorf(ErrInvalid, "%d labels: a volume has at most %d", len(labels), maxLabels)
	}
	for k, v := range labels {
		switch {
		case k == "":
			return errorf(ErrInvalid, "a label has an empty key; write label.KEY=VALUE, e.g. label.team=web")
		case len(k) > maxLabelKeyLen:
			return errorf(ErrInvalid, "label key %.32q... is too long: %d bytes, at most %d", k, len(k), maxLabelKeyLen)
		case len(v) > maxLabelValueLen:
			return errorf(ErrInvalid, "the value of label %q is too long: %d bytes, at most %d", k, len(v), maxLabelValueLen)
		}
	}
	return nil
}

func parseID(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == math.MaxUint32 {
		return 0, fmt.Errorf("expected a number from 0 to %d", uint32(math.MaxUint32-1))
	}
	return uint32(n), nil
}

func parseMode(v string) (uint32, error) {
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil || n == 0 || n > 0o7777 {
		return 0, fmt.Errorf("expected an octal permission from 1 to 7777, e.g. 0755")
	}
	return uint32(n), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
