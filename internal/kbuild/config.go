package kbuild

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// BaseGroup is applied to every build, before the groups asked for.
const BaseGroup = "base"

// ErrUnknownGroup is wrapped by Groups' error for a name with no fragment.
var ErrUnknownGroup = errors.New("unknown config group")

// Fragment is one kconfig fragment file of a group.
type Fragment struct {
	Group string
	Name  string // file name: <group>.config or <group>.<arch>.config
	Data  []byte
}

// Groups lists the group names in fsys (configs/*.config without an arch
// suffix), sorted.
func Groups(fsys fs.FS) []string {
	ents, _ := fs.ReadDir(fsys, "configs")
	var out []string
	for _, e := range ents {
		n, ok := strings.CutSuffix(e.Name(), ".config")
		if ok && !strings.Contains(n, ".") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// Fragments returns the fragments of base and groups for arch, in the order
// merge_config.sh applies them (a later line wins). An unknown group wraps
// ErrUnknownGroup and names the known ones.
func Fragments(fsys fs.FS, arch catalog.Arch, groups []string) ([]Fragment, error) {
	var out []Fragment
	seen := map[string]bool{}
	for _, g := range append([]string{BaseGroup}, groups...) {
		if seen[g] {
			continue
		}
		seen[g] = true
		data, err := fs.ReadFile(fsys, path.Join("configs", g+".config"))
		if err != nil || strings.Contains(g, ".") || strings.Contains(g, "/") {
			return nil, fmt.Errorf("%w %q (have %s)", ErrUnknownGroup, g, strings.Join(Groups(fsys), ", "))
		}
		out = append(out, Fragment{Group: g, Name: g + ".config", Data: data})
		archName := g + "." + string(arch) + ".config"
		if data, err := fs.ReadFile(fsys, path.Join("configs", archName)); err == nil {
			out = append(out, Fragment{Group: g, Name: archName, Data: data})
		}
	}
	return out, nil
}

// configDigest names a set of fragments by their names and bytes.
func configDigest(arch catalog.Arch, frags []Fragment) string {
	h := sha256.New()
	fmt.Fprintf(h, "arch %s\n", arch)
	for _, f := range frags {
		fmt.Fprintf(h, "%s %d\n", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// OptionDroppedError is a fragment line the final .config does not honour.
type OptionDroppedError struct {
	Option string // CONFIG_X
	Want   string // "y", "m", a value, or "n" for "is not set"
	Got    string // "" when absent (olddefconfig dropped it)
	Group  string
}

func (e *OptionDroppedError) Error() string {
	got := "absent (a dependency is not met)"
	if e.Got != "" {
		got = e.Got
	}
	return fmt.Sprintf("config group %s asks for %s=%s, but the resulting .config has %s", e.Group, e.Option, e.Want, got)
}

// parseConfig reads CONFIG_X=v lines and "# CONFIG_X is not set" lines (as
// "n") of a .config or a fragment, in order.
func parseConfig(data []byte) [][2]string {
	var out [][2]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if opt, ok := strings.CutPrefix(line, "# "); ok {
			if name, ok := strings.CutSuffix(opt, " is not set"); ok && strings.HasPrefix(name, "CONFIG_") {
				out = append(out, [2]string{name, "n"})
			}
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// checkConfig returns the first fragment line (the last group to set an
// option decides it) that config does not honour.
func checkConfig(config []byte, frags []Fragment) error {
	have := map[string]string{}
	for _, kv := range parseConfig(config) {
		have[kv[0]] = kv[1]
	}
	type want struct{ value, group string }
	wants := map[string]want{}
	var order []string
	for _, f := range frags {
		for _, kv := range parseConfig(f.Data) {
			if _, ok := wants[kv[0]]; !ok {
				order = append(order, kv[0])
			}
			wants[kv[0]] = want{kv[1], f.Group}
		}
	}
	for _, opt := range order {
		w, got := wants[opt], have[opt]
		switch {
		case w.value == "n" && (got == "" || got == "n"):
		case w.value == got:
		default:
			return &OptionDroppedError{Option: opt, Want: w.value, Got: got, Group: w.group}
		}
	}
	return nil
}
