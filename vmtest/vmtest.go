package vmtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// insideEnv marks a test binary started by InVM inside the guest.
const insideEnv = "BPFMATRIX_VMTEST_INSIDE"

// Options choose the kernel and the VM's limits. Zero values take vm's
// defaults.
type Options struct {
	// Kernel is a catalog name, e.g. "debian-6.1".
	Kernel                  string
	Memory, CPUs            int
	BootTimeout, RunTimeout time.Duration
	// Dir is copied to the program's working directory (default: the
	// test's working directory, i.e. the package directory).
	Dir string
	// Env is added to the program's environment.
	Env []string
}

// Result is a finished program.
type Result struct {
	ExitCode       int
	Stdout, Stderr string
	Release        string
}

// Run boots opts.Kernel, runs program with args inside it and returns its
// result. Any VM failure fails the test at once, logging the console and
// the QEMU command.
func Run(tb testing.TB, opts Options, program string, args ...string) *Result {
	tb.Helper()
	k := kernel(tb, opts.Kernel)
	dir := opts.Dir
	if dir == "" {
		dir = "."
	}
	var stdout, stderr bytes.Buffer
	ctx := context.Background()
	if d, ok := tb.(interface{ Context() context.Context }); ok {
		ctx = d.Context()
	}
	res, err := vm.Run(ctx, vm.Options{
		Arch: k.Arch, Kernel: k.Image,
		Memory: opts.Memory, CPUs: opts.CPUs,
		BootTimeout: opts.BootTimeout, RunTimeout: opts.RunTimeout,
		Stdout: &stdout, Stderr: &stderr,
	}, vm.Job{Program: program, Args: args, Env: opts.Env, Dir: dir})
	if err != nil {
		var ve *vm.Error
		if errors.As(err, &ve) {
			tb.Logf("console:\n%s", strings.Join(ve.ConsoleTail, "\n"))
			tb.Logf("reproduce with: %s", ve.Repro)
		}
		tb.Fatalf("vmtest: run %s on %s: %v", filepath.Base(program), opts.Kernel, err)
	}
	r := &Result{ExitCode: res.ExitCode, Stdout: stdout.String(), Stderr: stderr.String(), Release: res.Release}
	if r.ExitCode != 0 {
		tb.Logf("vmtest: %s exited with %d on %s (%s); reproduce the VM with: %s", filepath.Base(program), r.ExitCode, opts.Kernel, res.Release, res.Repro)
	}
	return r
}

// InVM reruns the calling test inside opts.Kernel and reports whether it
// did so. On the host it returns true after the guest run: the test's
// output is logged and a failure inside fails t. Inside the guest it
// returns false, so the rest of the test body runs there.
func InVM(t *testing.T, opts Options) bool {
	t.Helper()
	if os.Getenv(insideEnv) != "" {
		return false
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("vmtest: %v", err)
	}
	opts.Env = append(opts.Env, insideEnv+"=1")
	res := Run(t, opts, exe, "-test.run="+runPattern(t.Name()), "-test.v", "-test.count=1")
	t.Logf("inside %s (%s):\n%s%s", opts.Kernel, res.Release, res.Stdout, res.Stderr)
	if res.ExitCode != 0 {
		t.Errorf("vmtest: %s failed inside %s (exit status %d)", t.Name(), opts.Kernel, res.ExitCode)
	}
	return true
}

// runPattern matches exactly the test called name (subtests included).
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func kernel(tb testing.TB, name string) *fetch.Kernel {
	tb.Helper()
	spec, err := catalog.Default().Lookup(name)
	if err != nil {
		tb.Fatalf("vmtest: %v", err)
	}
	cache := os.Getenv("BPFMATRIX_CACHE")
	if cache == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			tb.Fatalf("vmtest: %v", err)
		}
		cache = filepath.Join(d, "bpfmatrix")
	}
	f, err := fetch.New(fetch.Options{CacheDir: cache})
	if err != nil {
		tb.Fatalf("vmtest: %v", err)
	}
	k, err := f.Fetch(context.Background(), spec)
	if err != nil {
		tb.Fatalf("vmtest: %v", err)
	}
	return k
}
