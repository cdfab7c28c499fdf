package installer

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"path"
	"strings"
	"text/template"
)

// ErrBadUnitConfig: a UnitConfig field would make a broken or unsafe unit.
var ErrBadUnitConfig = errors.New("installer: bad unit config")

// UnitConfig parameterises the node's systemd unit. Zero fields take the
// defaults below, which is what scripts/install-pi.sh installs.
type UnitConfig struct {
	// Binary is the absolute path of the borgios executable.
	Binary string
	// User runs the node; it owns nothing but the state directory.
	User string
	// StateDir is the directory name under /var/lib that systemd creates
	// for the node (StateDirectory=), holding its key and data.
	StateDir string
	// Args are extra `borgios node` arguments (e.g. --peers KEY@HOST:PORT).
	// More can be given without editing the unit in EnvironmentFile's
	// BORGIOS_NODE_ARGS.
	Args []string
}

// Defaults of UnitConfig.
const (
	DefaultBinary   = "/usr/local/bin/borgios"
	DefaultUser     = "borgios"
	DefaultStateDir = "borgios"
	// EnvironmentFile is read by the unit if it exists; its
	// BORGIOS_NODE_ARGS are appended to the node's arguments.
	EnvironmentFile = "/etc/default/borgios-node"
	// UnitName is the unit's file name.
	UnitName = "borgios-node.service"
)

//go:embed unit.tmpl
var unitTemplate string

// DefaultUnit is the unit rendered from the defaults: the file
// scripts/install-pi.sh installs, kept in the repository as
// installer/borgios-node.service (a test checks they match).
//
//go:embed borgios-node.service
var DefaultUnit []byte

var tmpl = template.Must(template.New("unit").Parse(unitTemplate))

// Render returns the unit file.
func (c UnitConfig) Render() ([]byte, error) {
	if c.Binary == "" {
		c.Binary = DefaultBinary
	}
	if c.User == "" {
		c.User = DefaultUser
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if !path.IsAbs(c.Binary) || strings.ContainsAny(c.Binary, " \t\n\"'\\%$") {
		return nil, fmt.Errorf("%w: binary %q must be an absolute path without spaces or quotes", ErrBadUnitConfig, c.Binary)
	}
	if !validName(c.User) || c.User == "root" {
		return nil, fmt.Errorf("%w: user %q (a dedicated system user, never root)", ErrBadUnitConfig, c.User)
	}
	if !validName(c.StateDir) {
		return nil, fmt.Errorf("%w: state directory %q", ErrBadUnitConfig, c.StateDir)
	}
	args := make([]string, 0, len(c.Args))
	for _, a := range c.Args {
		if strings.ContainsAny(a, "\n\r") {
			return nil, fmt.Errorf("%w: argument %q has a line break", ErrBadUnitConfig, a)
		}
		args = append(args, quoteExec(a))
	}
	var b bytes.Buffer
	err := tmpl.Execute(&b, map[string]any{
		"Binary":   c.Binary,
		"User":     c.User,
		"StateDir": c.StateDir,
		"Args":     strings.Join(args, " "),
		"EnvFile":  EnvironmentFile,
	})
	if err != nil {
		return nil, fmt.Errorf("installer: render unit: %w", err)
	}
	return b.Bytes(), nil
}

func validName(s string) bool {
	if s == "" || len(s) > 31 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r == '_' || i > 0 && (r >= '0' && r <= '9' || r == '-')
		if !ok {
			return false
		}
	}
	return true
}

// quoteExec quotes one ExecStart= argument for systemd: double quotes
// around it, backslash escapes inside, and % and $ doubled so that systemd
// neither expands specifiers nor variables in it.
func quoteExec(a string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	return `"` + r.Replace(a) + `"`
}
