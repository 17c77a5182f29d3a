package vmtest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// These tests use vmtest the way a user does: `go test -json` in a module of
// their own (testdata/vmtestmod, which imports this module through a
// replace), with the bpfmatrix CLI built from this checkout, and check the
// host-side events.

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
)

// bpfmatrixCLI builds the CLI and the guest init next to it (where the CLI
// looks for it) once per test binary.
func bpfmatrixCLI(tb testing.TB) string {
	tb.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vmtest-cli-")
		if err != nil {
			cliErr = err
			return
		}
		for _, b := range [][]string{
			{"build", "-o", filepath.Join(dir, "bpfmatrix"), "../cmd/bpfmatrix"},
			{"build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "bpfmatrix-init"), "../cmd/bpfmatrix-init"},
		} {
			cmd := exec.Command("go", b...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				cliErr = fmt.Errorf("go %s: %w\n%s", strings.Join(b, " "), err, out)
				return
			}
		}
		cliPath = filepath.Join(dir, "bpfmatrix")
	})
	require.NoError(tb, cliErr)
	return cliPath
}

type event struct {
	Action, Test, Output string
}

// results are one go test -json run: each test's last action and output.
type results struct {
	action map[string]string
	output map[string]string
	all    string
}

// boots counts vmtest's one log line per boot.
func (r results) boots() int {
	return strings.Count(r.all, "vmtest: booted ")
}

// goTest runs go test -json in dir and parses its events.
func goTest(tb testing.TB, dir string, env []string, args ...string) results {
	tb.Helper()
	cmd := exec.Command("go", append([]string{"test", "-json", "-count=1"}, args...)...)
	cmd.Dir = dir
	// Offline and with this toolchain, as in CI.
	cmd.Env = append(os.Environ(), "BPFMATRIX_BIN="+bpfmatrixCLI(tb), "GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run() // failing cases fail go test; the events say which
	r := results{action: map[string]string{}, output: map[string]string{}}
	var all strings.Builder
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var e event
		require.NoError(tb, json.Unmarshal(sc.Bytes(), &e), "%s", sc.Bytes())
		switch e.Action {
		case "output":
			r.output[e.Test] += e.Output
			all.WriteString(e.Output)
		case "pass", "fail", "skip":
			r.action[e.Test] = e.Action
		}
	}
	r.all = all.String()
	require.NotEmpty(tb, r.action, "go test %s: no events\nstderr: %s", args, stderr.String())
	return r
}

var kernels = []string{"debian-5.10", "debian-6.1"}

// releasePrefix is each kernel's uname -r prefix.
var releasePrefix = map[string]string{"debian-5.10": "5.10.", "debian-6.1": "6.1."}

func TestOutcomes(t *testing.T) {
	if testing.Short() {
		t.Skip("boots two kernels")
	}
	tmp := t.TempDir()
	hostFile := filepath.Join(tmp, "body-ran-on-host")
	r := goTest(t, "testdata/vmtestmod", []string{"VMTESTMOD_HOST_ENV=from-host", "VMTESTMOD_HOST_FILE=" + hostFile},
		"-short",
		"-run", "^Test(Pass|Fail|Skip|Short|CustomFlag|Subtests|Panic|AfterPanic)$", ".", "-args", "-custom=x")

	for _, k := range kernels {
		t.Run(k, func(t *testing.T) {
			for _, tc := range []struct {
				test, action string
				output       []string
			}{
				{"TestPass/" + k, "pass", []string{"inside " + k + ": " + releasePrefix[k]}},
				// The guest's testify failure, as it reads locally.
				{"TestFail/" + k, "fail", []string{"before the assertion", "Error Trace:", `expected: "expected in the guest"`, `actual  : "actual in the guest"`, "reproduce with: cd "}},
				{"TestSkip/" + k, "skip", []string{"this kernel lacks the feature"}},
				{"TestShort/" + k, "pass", nil},
				{"TestCustomFlag/" + k, "pass", nil},
				{"TestSubtests/" + k + "/ok", "pass", nil},
				{"TestSubtests/" + k + "/bad", "fail", []string{"sub-subtest failed"}},
				{"TestSubtests/" + k, "fail", nil},
				{"TestPanic/" + k, "fail", []string{"panic: boom in the guest", "cases_test.go:"}},
				{"TestAfterPanic/" + k, "fail", []string{"did not run inside " + k, "ended first, in TestPanic/" + k}},
			} {
				t.Run(tc.test, func(t *testing.T) {
					assert.Equal(t, tc.action, r.action[tc.test], "output:\n%s", r.output[tc.test])
					for _, o := range tc.output {
						assert.Contains(t, r.output[tc.test], o)
					}
				})
			}
		})
	}
	assert.Equal(t, 2, r.boots(), "one boot per kernel")
	assert.NoFileExists(t, hostFile, "a test body ran on the host")
}

func TestTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a kernel")
	}
	r := goTest(t, "testdata/vmtestmod", nil, "-timeout", "30s", "-run", "^TestTimeout$", ".")
	const name = "TestTimeout/debian-6.1"
	assert.Equal(t, "fail", r.action[name])
	out := r.output[name]
	// The output up to the timeout, and which test was running: the
	// guest's own alarm or, if the boot ate the time, vmtest's.
	assert.Contains(t, out, "started, now waiting forever")
	assert.Regexp(t, `test timed out after .*\n\s+running tests:\n\s+TestTimeout \(.*\n\s+TestTimeout/debian-6.1|still running inside debian-6.1`, out)
	assert.Contains(t, out, "reproduce with: cd ")
	assert.NotContains(t, out, "PCI: Fatal", "boot noise")
	assert.NotContains(t, out, "initramfs.cpio", "a reproduction line naming a deleted file")
}

// TestOneKernel: -run picks a kernel (one boot), and -cover counts the
// guest's coverage.
func TestOneKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a kernel")
	}
	profile := filepath.Join(t.TempDir(), "cover.out")
	r := goTest(t, "testdata/vmtestmod", []string{"VMTESTMOD_HOST_ENV=from-host"},
		"-cover", "-coverprofile="+profile, "-run", "^TestPass$/^debian-6.1$", ".")
	assert.Equal(t, "pass", r.action["TestPass/debian-6.1"])
	assert.NotContains(t, r.action, "TestPass/debian-5.10")
	assert.Equal(t, 1, r.boots())
	// Covered is only called inside the guest. (A guest binary that
	// panics reports no coverage, as go test without vmtest.)
	cover, err := os.ReadFile(profile)
	require.NoError(t, err)
	assert.Contains(t, string(cover), "example.com/vmtestmod/covered.go:8.25,9.11 1 1")
	assert.Contains(t, r.all, "coverage: 100.0% of statements")
}

// TestNested runs vmtestmod under go test -exec 'bpfmatrix exec': inside
// that guest, vmtest runs the body for the kernel it is on and skips the
// other instead of booting a VM in the VM.
func TestNested(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a kernel")
	}
	r := goTest(t, "testdata/vmtestmod", []string{"VMTESTMOD_HOST_ENV=from-host", "VMTESTMOD_OPTIONS_ENV=from-options"},
		"-exec", bpfmatrixCLI(t)+" exec --kernel debian-6.1", "-run", "^TestPass$", ".")
	assert.Equal(t, "pass", r.action["TestPass/debian-6.1"], r.all)
	assert.Equal(t, "skip", r.action["TestPass/debian-5.10"])
	assert.Contains(t, r.output["TestPass/debian-5.10"], "runs inside debian-6.1, so debian-5.10 is not booted from here")
	assert.Equal(t, 0, r.boots())
}

// TestNoMain: vmtest.Run without vmtest.Main fails loudly, and the body
// does not run on the host.
func TestNoMain(t *testing.T) {
	hostFile := filepath.Join(t.TempDir(), "body-ran-on-host")
	r := goTest(t, "testdata/vmtestmod", []string{"VMTESTMOD_HOST_FILE=" + hostFile}, "./nomain")
	assert.Equal(t, "fail", r.action["TestForgotMain"])
	assert.Contains(t, r.output["TestForgotMain"], "vmtest.Run needs vmtest.Main")
	assert.Contains(t, r.output["TestForgotMain"], "func TestMain(m *testing.M) { vmtest.Main(m, vmtest.Options{}) }")
	assert.NoFileExists(t, hostFile)
}

// TestVendored: a module that vendors vmtest builds and runs.
func TestVendored(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a kernel")
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum", "covered.go", "cases_test.go"} {
		b, err := os.ReadFile(filepath.Join("testdata/vmtestmod", f))
		require.NoError(t, err)
		if f == "go.mod" {
			b = bytes.ReplaceAll(b, []byte("=> ../../.."), []byte("=> "+root))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	vendor := exec.Command("go", "mod", "vendor")
	vendor.Dir = dir
	vendor.Env = append(os.Environ(), "GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=")
	out, err := vendor.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.FileExists(t, filepath.Join(dir, "vendor/github.com/bpfmatrix/bpfmatrix/vmtest/vmtest.go"))

	r := goTest(t, dir, []string{"VMTESTMOD_HOST_ENV=from-host"}, "-mod=vendor", "-run", "^TestPass$/^debian-6.1$", ".")
	assert.Equal(t, "pass", r.action["TestPass/debian-6.1"], r.all)
}

// BenchmarkBoots runs 10 VM tests on 3 kernels in one go test, and in the
// same iteration boots each of the 3 kernels bare (the same QEMU command as
// vmtest's with an /init that restarts the machine at once: the floor any
// boot pays). The two alternate (ABBA), so a slow spell of the shared
// machine falls on both sides. Goal (issue 13): the go test costs about 3
// boots, at most 3 x (bare boot + 0.5 s): added-s/kernel <= 0.5, by the
// medians of the iterations and by their best runs (the machine's noise
// only ever adds time). cpu-added-s/kernel is the same difference in CPU
// time (user + system of the process and every child it waited for: QEMU),
// which other load on the machine moves much less than wall time.
func BenchmarkBoots(b *testing.B) {
	bench := []string{"debian-5.10", "debian-6.1", "debian-6.12"}
	dir := b.TempDir()
	root, err := filepath.Abs("..")
	require.NoError(b, err)
	var src strings.Builder
	// A generous boot timeout: on a machine loaded by others a boot can
	// take a minute, and a benchmark measures, it does not judge.
	fmt.Fprintf(&src, "package bench\n\nimport (\n\t\"testing\"\n\t\"time\"\n\n\t\"github.com/bpfmatrix/bpfmatrix/vmtest\"\n)\n\n")
	fmt.Fprintf(&src, "var kernels = %#v\n\nfunc TestMain(m *testing.M) { vmtest.Main(m, vmtest.Options{BootTimeout: 10 * time.Minute}) }\n", bench)
	for i := range 10 {
		fmt.Fprintf(&src, "\nfunc Test%d(t *testing.T) {\n\tvmtest.Run(t, kernels, func(t *testing.T) { t.Log(%d) })\n}\n", i, i)
	}
	files := map[string]string{
		"go.mod":        "module example.com/bench\n\ngo 1.26.0\n\nrequire github.com/bpfmatrix/bpfmatrix v0.0.0\n\nreplace github.com/bpfmatrix/bpfmatrix => " + root + "\n",
		"bench_test.go": src.String(),
	}
	for name, s := range files {
		require.NoError(b, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(b, os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644))
	}
	cli := bpfmatrixCLI(b)
	gobuild := func(args ...string) {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		require.NoError(b, err, "%s", out)
	}
	// Outside the module, where go test puts it: exec copies the module's
	// tree into the guest, and a test binary in it would go in twice.
	testBin := filepath.Join(b.TempDir(), "bench.test")
	gobuild("test", "-c", "-o", testBin, ".")
	bare := bareBoots(b, bench)

	var vmtestTimes, bareTimes, vmtestCPU, bareCPU []time.Duration
	boots := 0
	vmtestRun := func() {
		start := time.Now()
		cmd := exec.Command(testBin, "-test.v", "-test.count=1")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "BPFMATRIX_BIN="+cli)
		out, err := cmd.CombinedOutput()
		require.NoError(b, err, "%s", out)
		vmtestTimes = append(vmtestTimes, time.Since(start))
		vmtestCPU = append(vmtestCPU, cpuTime(cmd.ProcessState))
		require.Len(b, regexp.MustCompile(`--- PASS: Test\d/debian-`).FindAllString(string(out), -1), 30, "%s", out)
		boots += strings.Count(string(out), "vmtest: booted ")
	}
	bareRun := func() {
		var wall, cpu time.Duration
		for _, argv := range bare {
			w, c := bareBoot(b, argv)
			wall, cpu = wall+w, cpu+c
		}
		bareTimes, bareCPU = append(bareTimes, wall), append(bareCPU, cpu)
	}
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			vmtestRun()
			bareRun()
		} else {
			bareRun()
			vmtestRun()
		}
	}
	k := float64(len(bench))
	b.ReportMetric(float64(boots)/float64(b.N), "boots/op")
	b.ReportMetric(median(vmtestTimes).Seconds(), "vmtest-s/op")
	b.ReportMetric(median(bareTimes).Seconds(), "bare-boots-s/op")
	b.ReportMetric(float64(median(vmtestTimes))/float64(median(bareTimes)), "vmtest/bare")
	b.ReportMetric((median(vmtestTimes)-median(bareTimes)).Seconds()/k, "added-s/kernel")
	b.ReportMetric((slices.Min(vmtestTimes)-slices.Min(bareTimes)).Seconds()/k, "added-min-s/kernel")
	b.ReportMetric((median(vmtestCPU)-median(bareCPU)).Seconds()/k, "cpu-added-s/kernel")
}

// bareBoots returns, per kernel, the QEMU command vmtest boots it with
// (vm.CommandFor's) with an initramfs whose /init restarts the machine at
// once (tests/testdata/bareinit).
func bareBoots(tb testing.TB, kernels []string) [][]string {
	tb.Helper()
	f, err := fetch.New(fetch.Options{CacheDir: cacheDir(tb)})
	require.NoError(tb, err)
	init := filepath.Join(tb.TempDir(), "bareinit")
	cmd := exec.Command("go", "build", "-o", init, "../tests/testdata/bareinit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(tb, err, "%s", out)
	data, err := os.ReadFile(init)
	require.NoError(tb, err)
	initrd := filepath.Join(tb.TempDir(), "bare.cpio")
	w, err := os.Create(initrd)
	require.NoError(tb, err)
	cw := cpio.Newc.Writer(w)
	require.NoError(tb, cpio.WriteRecords(cw, []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("init", string(data), 0o755),
	}))
	require.NoError(tb, cpio.WriteTrailer(cw))
	require.NoError(tb, w.Close())
	var argvs [][]string
	for _, name := range kernels {
		spec, err := catalog.Default().Lookup(name)
		require.NoError(tb, err)
		require.Equal(tb, runtime.GOARCH, spec.Arch.GOARCH(), "bare boots are of the host's arch")
		k, err := f.Fetch(context.Background(), spec)
		require.NoError(tb, err)
		c, err := vm.CommandFor(vm.Options{Arch: k.Arch, Kernel: k.Image}, initrd)
		require.NoError(tb, err)
		argvs = append(argvs, c.Argv())
	}
	return argvs
}

// bareBoot runs one bare boot and returns its wall and CPU time.
func bareBoot(tb testing.TB, argv []string) (wall, cpu time.Duration) {
	tb.Helper()
	start := time.Now()
	c := exec.Command(argv[0], argv[1:]...)
	// The serial chardevs open /dev/fd/3 and 4.
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(tb, err)
	defer devnull.Close()
	c.ExtraFiles = []*os.File{devnull, devnull}
	out, err := c.CombinedOutput()
	require.NoError(tb, err, "%s", out)
	return time.Since(start), cpuTime(c.ProcessState)
}

// cpuTime is the user and system time of a finished process, its waited-for
// children included (wait4(2)'s rusage).
func cpuTime(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

// median returns the middle of ds (the mean of the two middle ones for an
// even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// cacheDir is the kernel cache the CLI uses (BPFMATRIX_CACHE, else the
// user cache directory), so the bare boots use the kernels vmtest boots.
func cacheDir(tb testing.TB) string {
	if d := os.Getenv("BPFMATRIX_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	require.NoError(tb, err)
	return filepath.Join(d, "bpfmatrix")
}
