package cli

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// What `go test -exec` relies on beyond the program and its arguments:
// the module's files around the package, and the output paths it hands
// the test binary, which name host files the guest cannot write.

// testOutputFlags are the test binary's flags that name files it writes;
// testOutputDirFlags those that name directories it writes in. go test
// passes them as -test.NAME=VALUE, absolute except for profiles named
// relative to -test.outputdir.
var (
	testOutputFlags    = []string{"coverprofile", "cpuprofile", "memprofile", "blockprofile", "mutexprofile", "trace"}
	testOutputDirFlags = []string{"gocoverdir", "outputdir"}
)

// moduleRoot returns the nearest directory at or above dir holding a
// go.mod, or "" outside a module.
func moduleRoot(dir string) string {
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && fi.Mode().IsRegular() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// execWorkTree decides what exec copies and where the program starts:
// with --dir given, that directory and its top; otherwise the module root
// around the working directory (so ../testdata and sibling packages
// resolve) and the working directory's place in it, or "." outside a
// module. module says root is a module's (nested modules stay out).
func execWorkTree(dir string, dirSet bool) (root, sub string, module bool, err error) {
	if dirSet {
		return dir, "", false, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", "", false, err
	}
	root = moduleRoot(wd)
	if root == "" {
		return ".", "", false, nil
	}
	rel, err := filepath.Rel(root, wd)
	if err != nil {
		return "", "", false, err
	}
	if rel == "." {
		rel = ""
	}
	return root, filepath.ToSlash(rel), true, nil
}

// flagValue splits "-test.NAME=VALUE" (one or two dashes) into NAME and VALUE.
func flagValue(arg string) (name, value string, hasValue bool) {
	a := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	if !strings.HasPrefix(a, "test.") || a == arg {
		return "", "", false
	}
	name, value, hasValue = strings.Cut(strings.TrimPrefix(a, "test."), "=")
	return name, value, hasValue
}

// execOutputs rewrites the test binary's output flags in args (and
// GOCOVERDIR in env) to guest paths and returns the rewritten args and env
// and the guest -> host mapping for vm.Job.Outputs. hostRoot (absolute,
// "" for none) is the host tree copied to wire.WorkDir; it is an output
// itself (what the program writes there comes back), and an output
// directory inside it (go test's -test.outputdir, the package directory)
// is its copy. Every host path is checked writable here, before anything
// boots; nothing is created.
func execOutputs(args, env []string, hostWD, hostRoot string) ([]string, []string, map[string]string, error) {
	outputs := map[string]string{}
	if hostRoot != "" {
		outputs[wire.WorkDir] = hostRoot
	}
	args = append([]string(nil), args...)
	env = append([]string(nil), env...)
	outputDir := ""
	for _, a := range args {
		if n, v, ok := flagValue(a); ok && n == "outputdir" {
			outputDir = v
		}
	}
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		base := hostWD
		if outputDir != "" {
			base = outputDir
		}
		return filepath.Join(base, p)
	}
	guestDirs := map[string]string{} // host dir -> guest dir
	guestDir := func(host string) string {
		if g, ok := guestDirs[host]; ok {
			return g
		}
		if hostRoot != "" {
			if rel, err := filepath.Rel(hostRoot, host); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				g := path.Join(wire.WorkDir, filepath.ToSlash(rel))
				guestDirs[host] = g
				return g
			}
		}
		g := vm.OutputDir(len(outputs))
		guestDirs[host] = g
		outputs[g] = host
		return g
	}
	for i, a := range args {
		name, value, ok := flagValue(a)
		if !ok || value == "" {
			continue
		}
		prefix := a[:len(a)-len(value)]
		switch {
		case contains(testOutputFlags, name):
			host := abs(value)
			if err := checkWritable(filepath.Dir(host), "-test."+name); err != nil {
				return nil, nil, nil, err
			}
			g := vm.OutputFile(len(outputs), filepath.Base(host))
			outputs[g] = host
			args[i] = prefix + g
		case contains(testOutputDirFlags, name):
			host := abs(value)
			if !exists(host) {
				continue // a guest path of the program's own (vmtest's cover directory)
			}
			if err := checkWritable(host, "-test."+name); err != nil {
				return nil, nil, nil, err
			}
			args[i] = prefix + guestDir(host)
		}
	}
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOCOVERDIR="); ok && v != "" {
			host := abs(v)
			if !exists(host) {
				continue
			}
			if err := checkWritable(host, "GOCOVERDIR"); err != nil {
				return nil, nil, nil, err
			}
			env[i] = "GOCOVERDIR=" + guestDir(host)
		}
	}
	return args, env, outputs, nil
}

// exists reports whether p names something on the host. go test creates
// the directories it names before it runs the test binary; a directory
// that does not exist is a guest path the caller chose (vmtest makes its
// cover directory in the guest) and is passed on as it is.
func exists(p string) bool {
	_, err := os.Stat(p)
	return !errors.Is(err, os.ErrNotExist)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkWritable refuses an output directory the program's results could
// not be written to after the run (a usage error, before anything boots).
func checkWritable(dir, what string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return usageError("%s: output directory: %v", what, err)
	}
	if !fi.IsDir() {
		return usageError("%s: output directory %s is not a directory", what, dir)
	}
	// access(2) says yes to root whatever the file system: create and
	// remove a file, as writing the output will.
	f, err := os.CreateTemp(dir, ".bpfmatrix-exec-*")
	if err != nil {
		return usageError("%s: output directory %s is not writable: %v", what, dir, errors.Unwrap(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// execBusybox returns a static busybox for guests of arch: the host's
// /bin/busybox (Debian's busybox-static) when arch is the host's, Debian's
// for arch from the tools cache otherwise. "" when there is none: exec
// still runs programs that need no shell. /bin/bash is not put in: with
// its libraries it is 3.6 MB (busybox 2 MB), paid by every exec at 10-20
// ms per MB under TCG, for the few tests that use it as a uprobe target
// (and those want its symbols, which a link to busybox would not have).
func execBusybox(ctx context.Context, g *globals, arch catalog.Arch) string {
	if arch.GOARCH() == runtime.GOARCH {
		if checkStaticBusybox(hostBusybox, arch) == nil {
			return hostBusybox
		}
		return ""
	}
	fetcher, err := g.fetcher(nil)
	if err != nil {
		return ""
	}
	tools, err := fetcher.Tools(ctx, arch)
	if err != nil {
		g.logger().Debug("no busybox for the guest", "arch", arch, "err", err)
		return ""
	}
	return tools.Busybox
}

// hostBusybox is where Debian's busybox-static installs it.
const hostBusybox = "/bin/busybox"
