package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// BenchmarkBoot compares, per kernel and in one run, a bare boot (an /init
// that restarts the machine at once, same QEMU command) with `exec` of a
// trivial static program (testdata/trueprog: an empty Go main) under
// bpfmatrix-init. Goal: exec adds <= 0.3 s. The two alternate (ABBA), and
// the figures are medians, plus the difference of the best runs: on a
// shared machine the guest's whole boot slows down by 0.2-0.4 s now and
// then, which moves a mean by tenths of a second. debian-6.1-arm64 runs under qemu-system-aarch64
// (TCG) with everything cross-built for arm64.
func BenchmarkBoot(b *testing.B) {
	for _, kernel := range []string{"debian-5.10", "debian-6.1", "debian-6.1-arm64"} {
		k := fetchKernel(b, kernel)
		bare := bareInitramfs(b, buildStaticFor(b, "./testdata/bareinit", "bareinit", k.Arch))
		prog := buildStaticFor(b, "./testdata/trueprog", "trueprog", k.Arch)
		// Resolved (and for arm64 built) once, outside the timed runs.
		init, err := vm.InitBinary(context.Background(), k.Arch)
		require.NoError(b, err)
		cmd, err := vm.CommandFor(vm.Options{Arch: k.Arch, Kernel: k.Image}, bare)
		require.NoError(b, err)
		argv := cmd.Argv()
		b.Run(kernel, func(b *testing.B) {
			var bareTimes, execTimes []time.Duration
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
				bareTimes = append(bareTimes, time.Since(start))
			}
			execRun := func() {
				start := time.Now()
				res, err := vm.Run(context.Background(), vm.Options{Arch: k.Arch, Kernel: k.Image, Init: init}, vm.Job{Program: prog})
				require.NoError(b, err)
				require.Equal(b, 0, res.ExitCode)
				execTimes = append(execTimes, time.Since(start))
			}
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
			bareMed, execMed := median(bareTimes), median(execTimes)
			b.ReportMetric(bareMed.Seconds(), "bare-s/boot")
			b.ReportMetric(execMed.Seconds(), "exec-s/run")
			b.ReportMetric((execMed - bareMed).Seconds(), "added-s")
			// Best of N: the machine's noise only ever adds time.
			b.ReportMetric((slices.Min(execTimes) - slices.Min(bareTimes)).Seconds(), "added-min-s")
		})
	}
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
