package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// BenchmarkBoot compares, per kernel and in one run, a bare boot (an /init
// that restarts the machine at once, same QEMU command) with the CLI's
// `bpfmatrix exec --kernel K -- trueprog` (testdata/trueprog: an empty Go
// main) run from an empty directory: the whole command as go test -exec
// runs it, with everything it puts in the initramfs (bpfmatrix-init, the
// program, busybox and its links, the empty working directory) and its own
// start-up (catalog, cache check, run directory). Goal: exec adds <= 0.3 s.
// The two alternate (ABBA), and the figures are medians, plus the
// difference of the best runs: on a shared machine the guest's whole boot
// slows down by 0.2-0.4 s now and then, which moves a mean by tenths of a
// second. cpu-added-s is the difference of the median CPU times (QEMU's
// included), which the machine's other load moves much less than wall
// time. debian-6.1-arm64 runs under qemu-system-aarch64 (TCG) with
// everything cross-built for arm64.
func BenchmarkBoot(b *testing.B) {
	for _, kernel := range []string{"debian-5.10", "debian-6.1", "debian-6.1-arm64"} {
		k := fetchKernel(b, kernel)
		bare := bareInitramfs(b, buildStaticFor(b, "./testdata/bareinit", "bareinit", k.Arch))
		prog := buildStaticFor(b, "./testdata/trueprog", "trueprog", k.Arch)
		cli := newExecBench(b, kernel)
		cmd, err := vm.CommandFor(vm.Options{Arch: k.Arch, Kernel: k.Image}, bare)
		require.NoError(b, err)
		argv := cmd.Argv()
		empty := b.TempDir()
		b.Run(kernel, func(b *testing.B) {
			var bareTimes, execTimes []timing
			bareBoot := func() {
				start := time.Now()
				c := exec.Command(argv[0], argv[1:]...)
				// The serial chardevs open /dev/fd/3 and 4.
				devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
				require.NoError(b, err)
				c.ExtraFiles = []*os.File{devnull, devnull}
				out, err := c.CombinedOutput()
				devnull.Close()
				require.NoError(b, err, "%s", out)
				bareTimes = append(bareTimes, timing{time.Since(start), cpuTime(c.ProcessState)})
			}
			execRun := func() { execTimes = append(execTimes, cli.run(b, empty, prog)) }
			for i := 0; i < b.N; i++ {
				// ABBA order, so that a slow spell of the machine does
				// not always fall on the same side.
				if i%2 == 0 {
					bareBoot()
					execRun()
				} else {
					execRun()
					bareBoot()
				}
			}
			reportPair(b, "bare", bareTimes, "exec", execTimes)
		})
	}
}

// BenchmarkExecPackageDir times `go test -exec 'bpfmatrix exec --kernel K'`
// as go test runs it (the CLI started in the package's directory of a
// module, with the module root copied into the guest) for two modules that
// differ only in the package directory's size: empty, and 50 MB of test
// data (48 files of 1 MiB of random bytes, as built BPF objects or
// captured fixtures are, plus 200 files of 10 KiB). Goal: the 50 MB
// package adds at most 0.2 s. Same ABBA order and figures as
// BenchmarkBoot.
func BenchmarkExecPackageDir(b *testing.B) {
	for _, kernel := range []string{"debian-6.1"} {
		k := fetchKernel(b, kernel)
		prog := buildStaticFor(b, "./testdata/trueprog", "trueprog", k.Arch)
		cli := newExecBench(b, kernel)
		empty := benchModule(b, 0)
		full := benchModule(b, 50)
		b.Run(kernel, func(b *testing.B) {
			var emptyTimes, fullTimes []timing
			emptyRun := func() { emptyTimes = append(emptyTimes, cli.run(b, empty, prog)) }
			fullRun := func() { fullTimes = append(fullTimes, cli.run(b, full, prog)) }
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					emptyRun()
					fullRun()
				} else {
					fullRun()
					emptyRun()
				}
			}
			reportPair(b, "empty", emptyTimes, "50MB", fullTimes)
		})
	}
}

// execBench runs the CLI built here (`bpfmatrix exec --kernel K`) the way
// go test -exec does. The guest's bpfmatrix-init is the one vm.InitBinary
// builds (stripped, as `make build` and an installed bpfmatrix have it),
// resolved once outside the timed runs.
type execBench struct {
	bin, kernel string
	env         []string
}

func newExecBench(tb testing.TB, kernel string) *execBench {
	tb.Helper()
	spec, err := catalog.Default().Lookup(kernel)
	require.NoError(tb, err)
	init, err := vm.InitBinary(context.Background(), spec.Arch)
	require.NoError(tb, err)
	return &execBench{
		bin:    buildStatic(tb, "../cmd/bpfmatrix", "bpfmatrix"),
		kernel: kernel,
		env: append(os.Environ(), "BPFMATRIX_CACHE="+cacheDir(tb),
			"BPFMATRIX_INIT_"+strings.ToUpper(spec.Arch.GOARCH())+"="+init),
	}
}

// run times one `exec --kernel K PROG` started in dir: wall time, and CPU
// time (user + system of the CLI and of QEMU, which it waits for).
func (e *execBench) run(tb testing.TB, dir, prog string) timing {
	tb.Helper()
	start := time.Now()
	// A generous boot timeout: on a machine loaded by others a boot can
	// take a minute, and a benchmark measures, it does not judge.
	c := exec.Command(e.bin, "exec", "--kernel", e.kernel, "--boot-timeout", "10m", "--", prog)
	c.Dir, c.Env = dir, e.env
	out, err := c.CombinedOutput()
	d := time.Since(start)
	require.NoError(tb, err, "%s", out)
	return timing{d, cpuTime(c.ProcessState)}
}

// timing is one run's wall and CPU time.
type timing struct{ wall, cpu time.Duration }

// cpuTime is the user and system time of a finished process, its waited-for
// children included (wait4(2)'s rusage): under TCG nearly all of a boot is
// QEMU's CPU time, which other load on the machine moves much less than
// wall time.
func cpuTime(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

// benchModule makes a module (example.com/bench) whose package directory
// pkg holds mb MiB of test data, and returns pkg's path.
func benchModule(tb testing.TB, mb int) string {
	tb.Helper()
	root := tb.TempDir()
	require.NoError(tb, os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/bench\n\ngo 1.22\n"), 0o644))
	pkg := filepath.Join(root, "pkg")
	require.NoError(tb, os.MkdirAll(filepath.Join(pkg, "testdata", "small"), 0o755))
	rnd := rand.New(rand.NewPCG(1, uint64(mb)))
	write := func(name string, size int) {
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(rnd.Uint32())
		}
		require.NoError(tb, os.WriteFile(filepath.Join(pkg, "testdata", name), buf, 0o644))
	}
	if mb > 0 {
		for i := 0; i < mb-2; i++ {
			write(fmt.Sprintf("obj%02d.elf", i), 1<<20)
		}
		for i := 0; i < 200; i++ {
			write(fmt.Sprintf("small/f%03d.bin", i), 10<<10)
		}
	}
	return pkg
}

// reportPair reports the median wall times of a and b, b's median minus
// a's, the difference of their best runs (the machine's noise only ever
// adds time), and the difference of their median CPU times.
func reportPair(b *testing.B, aName string, a []timing, bName string, bt []timing) {
	wall := func(ts []timing) (ds []time.Duration) {
		for _, t := range ts {
			ds = append(ds, t.wall)
		}
		return ds
	}
	cpu := func(ts []timing) (ds []time.Duration) {
		for _, t := range ts {
			ds = append(ds, t.cpu)
		}
		return ds
	}
	aMed, bMed := median(wall(a)), median(wall(bt))
	b.ReportMetric(aMed.Seconds(), aName+"-s")
	b.ReportMetric(bMed.Seconds(), bName+"-s")
	b.ReportMetric((bMed - aMed).Seconds(), "added-s")
	b.ReportMetric((slices.Min(wall(bt)) - slices.Min(wall(a))).Seconds(), "added-min-s")
	b.ReportMetric((median(cpu(bt)) - median(cpu(a))).Seconds(), "cpu-added-s")
}

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

func bareInitramfs(tb testing.TB, init string) string {
	tb.Helper()
	data, err := os.ReadFile(init)
	require.NoError(tb, err)
	p := filepath.Join(tb.TempDir(), "bare.cpio")
	f, err := os.Create(p)
	require.NoError(tb, err)
	defer f.Close()
	w := cpio.Newc.Writer(f)
	require.NoError(tb, cpio.WriteRecords(w, []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("init", string(data), 0o755),
	}))
	require.NoError(tb, cpio.WriteTrailer(w))
	return p
}
