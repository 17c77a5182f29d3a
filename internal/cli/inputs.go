package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

// Input checks shared by commands. Each runs while flags are parsed or
// before anything is fetched or booted, and fails with one line and exit
// status 2: bad input must not cost a boot.

// kernelsFlag registers --kernels: catalog names, comma-separated or
// repeated. An empty list (`--kernels ""`: without the check, the default
// set would run), an empty name (`a,,b`) and a name given twice (it would
// boot twice, then fail on the duplicate column) are refused while parsing.
// Unknown names are refused by selectKernels with the catalog's hint.
func kernelsFlag(fl *pflag.FlagSet, names *[]string, usage string) {
	fl.Var(&kernelList{names: names}, "kernels", usage)
}

type kernelList struct {
	names *[]string
	set   bool
}

func (k *kernelList) Type() string { return "strings" }

// String is "" for none, so that help shows no "(default [])".
func (k *kernelList) String() string {
	if k.names == nil || len(*k.names) == 0 {
		return ""
	}
	return "[" + strings.Join(*k.names, ",") + "]"
}

// Set is called once per --kernels; the first replaces the default.
func (k *kernelList) Set(v string) error {
	if !k.set {
		*k.names, k.set = nil, true
	}
	if strings.TrimSpace(v) == "" {
		return errors.New("no kernel named (leave --kernels out for the default set)")
	}
	for _, n := range strings.Split(v, ",") {
		switch {
		case strings.TrimSpace(n) == "":
			return fmt.Errorf("empty kernel name in %q", v)
		case slices.Contains(*k.names, n):
			return fmt.Errorf("kernel %s named twice", n)
		}
		*k.names = append(*k.names, n)
	}
	return nil
}

// checkOutputDir checks, creating nothing, that dir (the value of flag) can
// be a directory this process writes: it is one, or does not exist yet and
// its nearest existing ancestor is one, and that directory is writable
// (access(2), which refuses a read-only file system even to root). "" is
// fine: the flag was not given.
func checkOutputDir(flag, dir string) error {
	if dir == "" {
		return nil
	}
	p := filepath.Clean(dir)
	for {
		st, err := os.Stat(p)
		switch {
		case err == nil && !st.IsDir() && p == filepath.Clean(dir):
			return usageError("%s %s: a file, not a directory", flag, dir)
		case err == nil && !st.IsDir():
			return usageError("%s %s: %s is a file, not a directory", flag, dir, p)
		case err == nil:
			if err := unix.Access(p, unix.W_OK|unix.X_OK); err != nil {
				return usageError("%s %s: %s is not writable: %v", flag, dir, p, err)
			}
			return nil
		case !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOTDIR):
			return usageError("%s %s: %v", flag, dir, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return usageError("%s %s: no existing directory above it", flag, dir)
		}
		p = parent
	}
}
