package tests

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/run"
)

// TestProbeHelpersARM64 probes debian-5.10-arm64, where a fentry or LSM
// load takes ~10 ms under TCG (kallsyms_lookup_name scans every symbol)
// and the Go runtime's preemption signal interrupted about every second one
// with EAGAIN. Those answers once came out "supported": 29 to 60 tracing
// helpers per run, bpf_skb_store_bytes among them. None of these helpers is
// offered to kprobe or tracing programs on any kernel (kprobe_prog_func_proto,
// tracing_prog_func_proto), and a run leaves at most 1% inconclusive.
func TestProbeHelpersARM64(t *testing.T) {
	const kernel = "debian-5.10-arm64"
	k := fetchKernel(t, kernel)
	require.Equal(t, catalog.ARM64, k.Arch)
	agent := buildStaticFor(t, "../cmd/bpfmatrix-agent", "bpfmatrix-agent", k.Arch)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The probes as `bpfmatrix run` does them (without the corpus), so the
	// same boot also shows that an arm64 result carries the bpftool
	// cross-check, run with Debian's arm64 bpftool.
	spec, err := catalog.Default().Lookup(kernel)
	require.NoError(t, err)
	f, err := fetch.New(fetch.Options{CacheDir: cacheDir(t)})
	require.NoError(t, err)
	m, err := run.Run(ctx, []catalog.KernelSpec{spec}, run.Options{Fetcher: f, Agent: agent, ForeignBpftool: true})
	require.NoError(t, err)
	kr := m.Kernels[0]
	require.Empty(t, kr.Error)
	t.Logf("%s: boot %v, probe %v", kernel, kr.BootTime.Std().Round(time.Millisecond), kr.ProbeTime.Std().Round(time.Millisecond))
	t.Run("bpftool cross-check", func(t *testing.T) {
		require.NotNil(t, kr.Bpftool, "an arm64 result carries the bpftool check")
		assert.True(t, kr.Bpftool.Ran, "bpftool did not run: %s", kr.Bpftool.Error)
		assert.Regexp(t, `bpftool v7\.\d+\.\d+$`, kr.Bpftool.Version)
		t.Logf("%+v", *kr.Bpftool)
		assert.Positive(t, kr.Bpftool.Disagreements, "bpftool claims what our loads refute (see README)")
	})

	for _, pt := range []string{"kprobe", "tracing"} {
		for _, h := range []string{"bpf_skb_store_bytes", "bpf_csum_diff", "bpf_getsockopt", "bpf_sk_select_reuseport", "bpf_strtoul"} {
			t.Run(pt+"/"+h, func(t *testing.T) {
				f := feature(t, &kr, result.KindHelper, pt, h)
				require.Equal(t, result.Unsupported, f.Status, "%+v", f)
				require.NotNil(t, f.Reason)
				assert.Equal(t, result.ReasonProgramType, f.Reason.Kind)
			})
		}
	}
	t.Run("tracing/bpf_map_lookup_elem", func(t *testing.T) {
		assert.Equal(t, result.Supported, feature(t, &kr, result.KindHelper, "tracing", "bpf_map_lookup_elem").Status)
	})
	inconclusive := 0
	for _, f := range kr.Features {
		if f.Status == result.Inconclusive {
			inconclusive++
		}
	}
	assert.LessOrEqual(t, float64(inconclusive)/float64(len(kr.Features)), 0.01, "%d of %d inconclusive", inconclusive, len(kr.Features))

	// Which helper a program type may call is decided by its func_proto
	// table, the same code on both architectures: on 5.10 every helper cell
	// must match debian-5.10 x86_64 (measured equal), so an interrupted load
	// read either way shows up here whichever helper it hits.
	t.Run("helpers as on x86_64", func(t *testing.T) {
		x86 := realMatrix(t)["debian-5.10"]
		want := map[string]result.Status{}
		for _, f := range x86.Features {
			if f.Kind == result.KindHelper {
				want[f.Key()] = f.Status
			}
		}
		n := 0
		for _, f := range kr.Features {
			if f.Kind != result.KindHelper {
				continue
			}
			n++
			assert.Equal(t, want[f.Key()], f.Status, "%s: %+v", f.Key(), f)
		}
		assert.Equal(t, len(want), n)
	})
}
