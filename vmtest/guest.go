package vmtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// modulePath is this module, for the go install hint.
const modulePath = "github.com/bpfmatrix/bpfmatrix"

// guestRun is the one run of the test binary inside one kernel.
type guestRun struct {
	kernel string
	once   sync.Once

	mu sync.Mutex
	// err is set when the guest run could not report tests at all (no
	// CLI, no kernel, a broken boot): every test on this kernel fails
	// with it.
	err error
	ev  *events
	// crash is the guest's stderr when its binary ended early (a panic's
	// stack, the "test timed out" report).
	crash string
	// vmErr is the CLI's own error after the guest had started (a run
	// timeout), console noise and stale reproduction lines removed.
	vmErr     string
	runTimout time.Duration
	// stopped: vmtest stopped the guest run at the host's -timeout.
	stopped bool
	release string
}

// boot runs the test binary inside the kernel once and parses its events.
// t is the first test that needs this kernel; the boot is logged there.
func (gr *guestRun) boot(t *testing.T, kernel string, opts Options) {
	gr.mu.Lock()
	defer gr.mu.Unlock()
	cli, err := findCLI()
	if err != nil {
		gr.err = err
		return
	}
	exe, err := os.Executable()
	if err != nil {
		gr.err = fmt.Errorf("find the test binary: %w", err)
		return
	}
	runTimeout, guestTimeout := timeouts(t, opts.RunTimeout)
	gr.runTimout = runTimeout
	coverDir := ""
	if f := flag.Lookup("test.gocoverdir"); f != nil && f.Value.String() != "" {
		coverDir = f.Value.String()
	}
	args := []string{"exec", "--kernel", kernel, "--timeout", runTimeout.String()}
	if opts.Memory > 0 {
		args = append(args, "--memory", strconv.Itoa(opts.Memory))
	}
	if opts.CPUs > 0 {
		args = append(args, "--cpus", strconv.Itoa(opts.CPUs))
	}
	if opts.BootTimeout > 0 {
		args = append(args, "--boot-timeout", opts.BootTimeout.String())
	}
	for _, kv := range opts.Env {
		args = append(args, "--env", kv)
	}
	args = append(args, "--", exe)
	args = append(args, guestArgs(os.Args[1:], guestTimeout, coverDir != "")...)

	// The host's own -timeout alarm would end this process with nothing
	// reported: stop the guest run just before it, and report the tests it
	// had not finished.
	ctx := context.Background()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-2*time.Second))
		defer cancel()
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// SIGTERM lets the CLI stop QEMU and remove its files.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Second
	start := time.Now()
	runErr := cmd.Run()
	elapsed := time.Since(start)
	gr.stopped = ctx.Err() != nil
	var ee *exec.ExitError
	if runErr != nil && !errors.As(runErr, &ee) {
		gr.err = fmt.Errorf("run %s: %w", cli, runErr)
		return
	}
	gr.ev = parseEvents(&stdout)
	guestErr, cliErr := splitCLIError(stderr.String(), kernel)
	if len(gr.ev.byName) == 0 && runErr != nil {
		// Nothing ran: the CLI failed before the guest started (unknown
		// kernel, an old CLI, a broken boot).
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "unknown flag") {
			msg += fmt.Sprintf("\n(%s is older than this vmtest: %s)", cli, installHint())
		}
		gr.err = fmt.Errorf("bpfmatrix exec --kernel %s: %s: %s", kernel, runErr, cleanCLIError(msg))
		return
	}
	if !gr.ev.finished {
		if gr.stopped { // the CLI's line for our SIGTERM
			guestErr = strings.TrimSuffix(strings.TrimRight(guestErr, "\n"), "Error: interrupted")
		}
		gr.crash = strings.TrimRight(guestErr, "\n")
		gr.vmErr = cleanCLIError(cliErr)
	}
	if coverDir != "" {
		if err := receiveCoverage(coverDir, gr.ev.cover); err != nil {
			t.Errorf("vmtest: coverage from %s: %v", kernel, err)
		}
	}
	// One line per boot: what it cost, and proof there was one.
	t.Logf("vmtest: booted %s once and ran this package's tests inside it (%v)", kernel, elapsed.Round(10*time.Millisecond))
}

// replay reports the guest's outcome of t's test as t's outcome.
func (gr *guestRun) replay(t *testing.T) {
	t.Helper()
	gr.mu.Lock()
	defer gr.mu.Unlock()
	out := t.Output()
	if gr.err != nil {
		t.Fatalf("vmtest: %v", gr.err)
	}
	rec := gr.ev.take(t.Name())
	if rec == nil {
		if !gr.ev.finished && gr.ev.lastRun != nil {
			first, _, _ := strings.Cut(gr.endText(), "\n")
			fmt.Fprintf(out, "vmtest: %s did not run inside %s: the guest's test binary ended first, in %s (%s); see that test's failure\n", t.Name(), gr.kernel, gr.ev.lastRun.name, first)
		} else {
			fmt.Fprintf(out, "vmtest: %s did not run inside %s, although the host ran it: does the test take another path before vmtest.Run in the guest?\n", t.Name(), gr.kernel)
		}
		fmt.Fprintf(out, "reproduce with: %s\n", reproLine(t.Name()))
		t.FailNow()
	}
	gr.replayRecord(t, rec)
}

func (gr *guestRun) replayRecord(t *testing.T, rec *record) {
	out := t.Output()
	for _, it := range rec.items {
		if c := it.child; c != nil {
			// Child names are already unique in the guest ("x#01").
			t.Run(strings.TrimPrefix(c.name, rec.name+"/"), func(t *testing.T) {
				gr.replayRecord(t, c)
			})
			continue
		}
		// The guest indented its log lines as the host's t.Output will.
		fmt.Fprintln(out, strings.TrimPrefix(it.line, "    "))
	}
	crashed := !gr.ev.finished && rec == gr.ev.lastRun
	switch rec.action {
	case "pass":
	case "skip":
		t.SkipNow()
	case "fail":
		if crashed {
			fmt.Fprintf(out, "vmtest: the guest's test binary crashed here:\n%s\n", gr.endText())
		}
		if !t.Failed() { // else a subtest failed and said so
			fmt.Fprintf(out, "vmtest: failed inside %s; reproduce with: %s\n", gr.kernel, reproLine(rec.name))
		}
		t.FailNow()
	default:
		if gr.stopped {
			fmt.Fprintf(out, "vmtest: still running inside %s when go test's -timeout was about to end (booting took part of it):\n%s\n", gr.kernel, gr.endText())
		} else if gr.vmErr != "" && strings.Contains(gr.vmErr, "run timeout") {
			fmt.Fprintf(out, "vmtest: still running inside %s when the VM's run timeout (%v) fired:\n%s\n", gr.kernel, gr.runTimout, gr.endText())
		} else {
			fmt.Fprintf(out, "vmtest: did not finish inside %s; the guest's test binary ended:\n%s\n", gr.kernel, gr.endText())
		}
		fmt.Fprintf(out, "reproduce with: %s\n", reproLine(rec.name))
		t.FailNow()
	}
}

// endText is how the guest run ended: its stderr (a panic, a timeout
// report) and the CLI's error.
func (gr *guestRun) endText() string {
	return strings.TrimSpace(strings.Join([]string{gr.crash, gr.vmErr}, "\n"))
}

// timeouts returns the CLI's --timeout for the guest run and the guest test
// binary's -test.timeout: the guest's alarm fires first, so that the test
// binary itself names the test that was running, and both fit in what is
// left of the host's -timeout, leaving room for the boot.
func timeouts(t *testing.T, runTimeout time.Duration) (run, guest time.Duration) {
	if deadline, ok := t.Deadline(); ok {
		left := time.Until(deadline)
		// Boot and host reporting: 15 s, or a third of a short budget.
		room := min(15*time.Second, left/3)
		if runTimeout == 0 || runTimeout > left-room {
			runTimeout = left - room
		}
	}
	if runTimeout <= 0 {
		runTimeout = 24 * time.Hour // go test -timeout 0: none
	}
	guest = runTimeout - min(5*time.Second, runTimeout/5)
	return runTimeout.Round(time.Millisecond), guest.Round(time.Millisecond)
}

// droppedFlags are test flags not passed to the guest: vmtest sets its
// own value (v, timeout, gocoverdir), or they name host files or run
// benchmarks and fuzzing, which vmtest does not replay.
var droppedFlags = map[string]bool{
	"test.v": true, "test.timeout": true, "test.gocoverdir": true, "test.coverprofile": true,
	"test.outputdir": true, "test.artifacts": true, "test.testlogfile": true,
	"test.cpuprofile": true, "test.memprofile": true, "test.memprofilerate": true,
	"test.blockprofile": true, "test.blockprofilerate": true, "test.mutexprofile": true,
	"test.mutexprofilefraction": true, "test.trace": true,
	"test.bench": true, "test.benchtime": true, "test.benchmem": true, "test.list": true,
	"test.fuzz": true, "test.fuzztime": true, "test.fuzzminimizetime": true,
	"test.fuzzcachedir": true, "test.fuzzworker": true,
}

// guestArgs turns the host test binary's arguments into the guest's: the
// same flags (user flags after -args included) and arguments, minus
// droppedFlags, plus test2json framing, the guest's timeout and, with
// coverage on, the guest's counter directory.
func guestArgs(hostArgs []string, timeout time.Duration, cover bool) []string {
	var flags, rest []string
	for i := 0; i < len(hostArgs); i++ {
		a := hostArgs[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			rest = hostArgs[i:] // flag parsing stops here
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesNext := !hasValue && !isBoolFlag(name) && i+1 < len(hostArgs)
		if !droppedFlags[name] {
			flags = append(flags, a)
			if takesNext {
				flags = append(flags, hostArgs[i+1])
			}
		}
		if takesNext {
			i++
		}
	}
	flags = append(flags, "-test.v=test2json", "-test.timeout="+timeout.String())
	if cover {
		flags = append(flags, "-test.gocoverdir="+guestCoverDir)
	}
	return append(flags, rest...)
}

func isBoolFlag(name string) bool {
	f := flag.Lookup(name)
	if f == nil {
		return true // unknown: the flag package would refuse it anyway
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// splitCLIError separates the guest program's stderr from the CLI's own
// error, which starts with "Error: exec on KERNEL:".
func splitCLIError(stderr, kernel string) (guest, cli string) {
	i := strings.LastIndex("\n"+stderr, "\nError: exec on "+kernel+":")
	if i < 0 {
		return stderr, ""
	}
	return stderr[:i], stderr[i:]
}

// consoleNoise are kernel console lines every boot prints under the
// bpfmatrix machine (pci=off makes the PCI core complain once): not what
// went wrong.
var consoleNoise = regexp.MustCompile(`PCI: Fatal: No config space access function found`)

// cleanCLIError drops console noise and the CLI's "reproduce with" line,
// whose initramfs is deleted by the time anyone reads it (the go test line
// vmtest prints reproduces the whole run instead).
func cleanCLIError(s string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.HasPrefix(l, "reproduce with: ") || consoleNoise.MatchString(l) {
			continue
		}
		keep = append(keep, l)
	}
	if n := len(keep); n > 0 && keep[n-1] == "last console lines:" {
		keep = keep[:n-1]
	}
	return strings.Join(keep, "\n")
}

// reproLine is a command that reruns one kernel subtest after this test
// binary is gone: go test in the package directory, with -short and the
// user's own flags if they were given.
func reproLine(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	args := []string{"go", "test", "-count=1", "-v"}
	if testing.Short() {
		args = append(args, "-short")
	}
	args = append(args, "-run", strings.Join(parts, "/"), ".")
	var user []string
	flag.Visit(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Name, "test.") {
			user = append(user, "-"+f.Name+"="+f.Value.String())
		}
	})
	if len(user) > 0 || flag.NArg() > 0 {
		args = append(append(append(args, "-args"), user...), flag.Args()...)
	}
	dir, err := os.Getwd()
	if err != nil {
		dir = "."
	}
	return "cd " + shellQuote(dir) + " && " + strings.Join(quoteAll(args), " ")
}

func quoteAll(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return q
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// findCLI returns the bpfmatrix binary: $BPFMATRIX_BIN, else bpfmatrix on
// $PATH.
func findCLI() (string, error) {
	if p := os.Getenv("BPFMATRIX_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$BPFMATRIX_BIN: %w", err)
		}
		return p, nil
	}
	p, err := exec.LookPath("bpfmatrix")
	if err != nil {
		return "", fmt.Errorf("no bpfmatrix CLI on $PATH (vmtest boots kernels through it): %s, or set $BPFMATRIX_BIN", installHint())
	}
	return p, nil
}

// installHint says how to install the CLI of the version this test binary
// was built with.
func installHint() string {
	version := "latest"
	if bi, ok := debug.ReadBuildInfo(); ok {
		mods := append([]*debug.Module{&bi.Main}, bi.Deps...)
		for _, m := range mods {
			if m.Path != modulePath {
				continue
			}
			if r := m.Replace; r != nil && r.Version == "" {
				// A local replace: build from that directory.
				return fmt.Sprintf("install it with `cd %s && go install ./cmd/bpfmatrix`", r.Path)
			}
			if m.Version != "" && m.Version != "(devel)" {
				version = m.Version
			}
		}
	}
	return fmt.Sprintf("install it with `go install %s/cmd/bpfmatrix@%s`", modulePath, version)
}

// sendCoverage writes the coverage files in dir to w, one line each, for
// the host's receiveCoverage.
func sendCoverage(w io.Writer, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s%s %s\n", coverPrefix, e.Name(), base64.StdEncoding.EncodeToString(b)); err != nil {
			return err
		}
	}
	return nil
}

// receiveCoverage puts the guest's coverage files into the host's
// -test.gocoverdir, where the testing package merges every counter file of
// this binary into the coverage it reports at the end of m.Run. Meta-data
// files are the same binary's, so an existing one is kept.
func receiveCoverage(dir string, files map[string][]byte) error {
	for name, b := range files {
		if name != filepath.Base(name) || !(strings.HasPrefix(name, "covmeta.") || strings.HasPrefix(name, "covcounters.")) {
			return fmt.Errorf("unexpected coverage file %q", name)
		}
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		// Write to a temporary name and rename: the directory is read
		// by name pattern, and a half-written file must not be seen.
		tmp := filepath.Join(dir, ".vmtest-"+name)
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, p); err != nil {
			return err
		}
	}
	return nil
}
