package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/run"
)

// BenchmarkRun measures `bpfmatrix run` over five Debian kernels, images
// already cached and the result cache off: the full helper-by-program-type
// probe set plus the verifier corpus, one boot per kernel, as `make matrix`
// runs it. It reports the wall time and, per kernel, the boot, probe and
// verifier-corpus times measured inside the run. debian-6.1-arm64 is the
// arm64 row (qemu-system-aarch64 under TCG, agent cross-built, no bpftool:
// the host's is x86_64).
func BenchmarkRun(b *testing.B) {
	names := []string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-7.2", "debian-6.1-arm64"}
	specs, err := catalog.Default().LookupAll(names)
	require.NoError(b, err)
	for _, n := range names {
		fetchKernel(b, n)
	}
	f, err := fetch.New(fetch.Options{CacheDir: cacheDir(b)})
	require.NoError(b, err)
	per := map[string]*[3]time.Duration{}
	var wall time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		m, err := run.Run(context.Background(), specs, run.Options{
			Fetcher: f, Parallel: 2, CPUs: 1, Verifier: true, Bpftool: "/usr/sbin/bpftool",
		})
		wall += time.Since(start)
		require.NoError(b, err)
		for _, kr := range m.Kernels {
			require.Empty(b, kr.Error, kr.Kernel.Name)
			d := per[kr.Kernel.Name]
			if d == nil {
				d = &[3]time.Duration{}
				per[kr.Kernel.Name] = d
			}
			d[0] += kr.BootTime.Std()
			d[1] += kr.ProbeTime.Std()
			d[2] += kr.VerifierTime.Std()
		}
	}
	n := float64(b.N)
	b.ReportMetric(wall.Seconds()/n, "wall-s")
	for name, d := range per {
		short := strings.TrimPrefix(name, "debian-")
		b.ReportMetric(d[0].Seconds()/n, short+"-boot-s")
		b.ReportMetric(d[1].Seconds()/n, short+"-probe-s")
		b.ReportMetric(d[2].Seconds()/n, short+"-verifier-s")
	}
}

// BenchmarkObserve measures what the attach-and-observe section adds to a
// kernel's run: the same kernel (debian-6.1, image cached, result cache
// off, no verifier corpus, no bpftool) run without and with it in every
// iteration, one boot each. added-s is the difference of the two wall
// times (the budget is 5 s per kernel under TCG); observe-s is the section's
// own time inside the guest, the delivery bursts included.
func BenchmarkObserve(b *testing.B) {
	const name = "debian-6.1"
	specs, err := catalog.Default().LookupAll([]string{name})
	require.NoError(b, err)
	fetchKernel(b, name)
	f, err := fetch.New(fetch.Options{CacheDir: cacheDir(b)})
	require.NoError(b, err)
	var without, with, inGuest time.Duration
	for i := 0; i < b.N; i++ {
		for _, observe := range []bool{false, true} {
			start := time.Now()
			m, err := run.Run(context.Background(), specs, run.Options{
				Fetcher: f, CPUs: 2, Observe: observe,
				// Generous: other jobs on these 2 cores stretch boots (a
				// 1 min boot timeout was hit while eight helpers ran).
				BootTimeout: 5 * time.Minute, RunTimeout: 10 * time.Minute,
			})
			took := time.Since(start)
			require.NoError(b, err)
			kr := m.Kernels[0]
			require.Empty(b, kr.Error)
			if !observe {
				without += took
				continue
			}
			with += took
			inGuest += kr.ObserveTime.Std()
			for _, ft := range kr.Features {
				require.NotEqual(b, result.Inconclusive, ft.Status, ft.Name)
			}
		}
	}
	n := float64(b.N)
	b.ReportMetric(without.Seconds()/n, "without-s")
	b.ReportMetric(with.Seconds()/n, "with-s")
	b.ReportMetric((with-without).Seconds()/n, "added-s")
	b.ReportMetric(inGuest.Seconds()/n, "observe-s")
}
