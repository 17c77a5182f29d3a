package tests

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/run"
)

// The probe and verifier assertions below share one real `run` over three
// Debian kernels: one boot per kernel, probes and corpus in the same job,
// exactly as `bpfmatrix run` does it (without the result cache).
var (
	matrixOnce   sync.Once
	matrixResult *result.Matrix
	matrixErr    error
)

var matrixKernels = []string{"debian-5.10", "debian-6.1", "debian-6.12"}

func realMatrix(t *testing.T) map[string]*result.KernelResult {
	t.Helper()
	matrixOnce.Do(func() {
		specs, err := catalog.Default().LookupAll(matrixKernels)
		if err != nil {
			matrixErr = err
			return
		}
		for _, name := range matrixKernels {
			fetchKernel(t, name)
		}
		f, err := fetch.New(fetch.Options{CacheDir: cacheDir(t)})
		if err != nil {
			matrixErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		matrixResult, matrixErr = run.Run(ctx, specs, run.Options{
			Fetcher: f, Parallel: 2, CPUs: 1, Verifier: true, Bpftool: "/usr/sbin/bpftool",
		})
	})
	require.NoError(t, matrixErr)
	require.NoError(t, matrix.Validate(matrixResult), "the real matrix must satisfy the documented schema")
	out := map[string]*result.KernelResult{}
	for i := range matrixResult.Kernels {
		kr := &matrixResult.Kernels[i]
		require.Empty(t, kr.Error, "kernel %s failed", kr.Kernel.Name)
		out[kr.Kernel.Name] = kr
	}
	return out
}

func feature(t *testing.T, kr *result.KernelResult, kind result.Kind, progType, name string) result.Feature {
	t.Helper()
	for _, f := range kr.Features {
		if f.Kind == kind && f.Name == name && f.ProgramType == progType {
			return f
		}
	}
	t.Fatalf("%s: no %s %s/%s in the result", kr.Kernel.Name, kind, progType, name)
	return result.Feature{}
}

// TestProbeFacts asserts facts documented upstream on real kernels.
func TestProbeFacts(t *testing.T) {
	m := realMatrix(t)
	type fact struct {
		kernel, progType, name string
		kind                   result.Kind
		status                 result.Status
		reason                 result.ReasonKind
		reasonHas              string
	}
	for _, c := range []fact{
		// BPF_MAP_TYPE_RINGBUF: 457f44363a88 (5.8). On 5.10 it needs RLIMIT_MEMLOCK raised.
		{kernel: "debian-5.10", kind: result.KindMapType, name: "ringbuf", status: result.Supported},
		{kernel: "debian-6.1", kind: result.KindMapType, name: "ringbuf", status: result.Supported},
		// bpf_get_current_task_btf: 3ca1032ab7ab (5.11).
		{kernel: "debian-5.10", kind: result.KindHelper, progType: "kprobe", name: "bpf_get_current_task_btf", status: result.Unsupported, reason: result.ReasonVersion, reasonHas: "5.11"},
		{kernel: "debian-6.1", kind: result.KindHelper, progType: "kprobe", name: "bpf_get_current_task_btf", status: result.Supported},
		// BPF_MAP_TYPE_ARENA: 317460317a02 (6.9).
		{kernel: "debian-6.1", kind: result.KindMapType, name: "arena", status: result.Unsupported, reason: result.ReasonVersion, reasonHas: "introduced in 6.9"},
		{kernel: "debian-6.12", kind: result.KindMapType, name: "arena", status: result.Supported},
		// ISA v4 (sdiv, movsx, bswap, gotol: 6.6). 6.1's verifier takes a
		// lone gotol (BPF_JMP32|BPF_JA), so the probe must not rest on it.
		{kernel: "debian-6.1", kind: result.KindMisc, name: "v4_isa_extension", status: result.Unsupported, reason: result.ReasonVersion, reasonHas: "6.6"},
		{kernel: "debian-6.12", kind: result.KindMisc, name: "v4_isa_extension", status: result.Supported},
		// Debian's cloud kernels are built without CONFIG_BPF_LIRC_MODE2.
		{kernel: "debian-6.1", kind: result.KindProgramType, name: "lirc_mode2", status: result.Unsupported, reason: result.ReasonConfig, reasonHas: "CONFIG_BPF_LIRC_MODE2"},
		{kernel: "debian-5.10", kind: result.KindProgramType, name: "lirc_mode2", status: result.Unsupported, reason: result.ReasonConfig, reasonHas: "CONFIG_BPF_LIRC_MODE2"},
		// bpftool 7.1 claims bpf_skb_store_bytes for kprobe; the load says no
		// (kprobe_prog_func_proto, tracing_prog_func_proto) on every kernel.
		{kernel: "debian-5.10", kind: result.KindHelper, progType: "kprobe", name: "bpf_skb_store_bytes", status: result.Unsupported, reason: result.ReasonProgramType},
		{kernel: "debian-5.10", kind: result.KindHelper, progType: "tracing", name: "bpf_skb_store_bytes", status: result.Unsupported, reason: result.ReasonProgramType},
		{kernel: "debian-6.1", kind: result.KindHelper, progType: "kprobe", name: "bpf_skb_store_bytes", status: result.Unsupported, reason: result.ReasonProgramType},
		{kernel: "debian-6.1", kind: result.KindHelper, progType: "tracing", name: "bpf_skb_store_bytes", status: result.Unsupported, reason: result.ReasonProgramType},
		{kernel: "debian-6.12", kind: result.KindHelper, progType: "kprobe", name: "bpf_skb_store_bytes", status: result.Unsupported, reason: result.ReasonProgramType},
		{kernel: "debian-6.12", kind: result.KindHelper, progType: "tracing", name: "bpf_skb_store_bytes", status: result.Unsupported, reason: result.ReasonProgramType},
		// bpf_copy_from_user is for sleepable programs only. Debian builds
		// without CONFIG_FUNCTION_ERROR_INJECTION, so fentry.s has no target
		// on 6.1; 6.12 lets bpf_fentry_test1 sleep (KF_SLEEPABLE in
		// net/bpf/test_run.c's fmodret set). lsm.s works from 5.10
		// (bprm_committed_creds is in 5.10's sleepable hook list).
		{kernel: "debian-6.1", kind: result.KindHelper, progType: "tracing", name: "bpf_copy_from_user", status: result.Unsupported, reason: result.ReasonProgramType},
		{kernel: "debian-6.12", kind: result.KindHelper, progType: "tracing", name: "bpf_copy_from_user", status: result.Supported},
		{kernel: "debian-5.10", kind: result.KindHelper, progType: "lsm", name: "bpf_copy_from_user", status: result.Supported},
	} {
		t.Run(c.kernel+"/"+c.progType+"/"+c.name, func(t *testing.T) {
			f := feature(t, m[c.kernel], c.kind, c.progType, c.name)
			require.Equal(t, c.status, f.Status, "%+v", f)
			if c.status == result.Unsupported {
				require.NotNil(t, f.Reason)
				assert.Equal(t, c.reason, f.Reason.Kind)
				assert.Contains(t, matrix.ReasonText(f.Reason), c.reasonHas)
			}
		})
	}
}

// knownFindings are outcomes that contradict version and config on real
// Debian kernels and have been looked at; each says why. Anything else
// unexplained fails TestProbeVersionClaims.
var knownFindings = map[string]string{}

// TestProbeVersionClaims checks every version claim both ways, as
// cilium/ebpf's testutils do: "unsupported" on a kernel at or above the
// introducing version with its config present is a failure, and so is
// "supported" with a version reason. Inconclusive stays under 1%.
func TestProbeVersionClaims(t *testing.T) {
	for name, kr := range realMatrix(t) {
		t.Run(name, func(t *testing.T) {
			kv, err := catalog.ParseVersion(kr.Kernel.Release)
			require.NoError(t, err)
			inconclusive := 0
			for _, f := range kr.Features {
				switch f.Status {
				case result.Inconclusive:
					inconclusive++
					assert.NotEmpty(t, f.Error, "%s inconclusive without an error", f.Key())
				case result.Unsupported:
					require.NotNil(t, f.Reason, "%s unsupported without a reason", f.Key())
					if f.Reason.Kind == result.ReasonVersion {
						v, err := catalog.ParseVersion(f.Reason.Version)
						require.NoError(t, err, f.Key())
						assert.True(t, kv.Less(v), "%s: unsupported 'by version %s' on %s", f.Key(), f.Reason.Version, kv)
					}
					if f.Reason.Kind == result.ReasonUnexplained || f.Finding != "" {
						if why, ok := knownFindings[f.Key()]; ok {
							t.Logf("known finding %s: %s", f.Key(), why)
							continue
						}
						assert.Fail(t, "unexplained unsupported feature", "%s: %s", f.Key(), f.Finding)
					}
				}
			}
			assert.LessOrEqual(t, float64(inconclusive)/float64(len(kr.Features)), 0.01,
				"%d of %d inconclusive", inconclusive, len(kr.Features))
			require.NotNil(t, kr.Bpftool)
			assert.True(t, kr.Bpftool.Ran, "bpftool cross-check did not run: %s", kr.Bpftool.Error)
		})
	}
}

func outcome(t *testing.T, kr *result.KernelResult, name string) result.VerifierOutcome {
	t.Helper()
	for _, o := range kr.Verifier {
		if o.Case == name {
			return o
		}
	}
	t.Fatalf("%s: no verifier case %s", kr.Kernel.Name, name)
	return result.VerifierOutcome{}
}

// TestVerifierOutcomes asserts outcomes on both sides of a case's version.
func TestVerifierOutcomes(t *testing.T) {
	m := realMatrix(t)
	for _, c := range []struct {
		kernel, name string
		accepted     bool
		logHas       string
	}{
		// bpf_loop (e6f2dd0f8067, 5.17). On 5.10 the callback is a
		// BPF_PSEUDO_FUNC ld_imm64 (5.13), so the verifier stops before it
		// reaches the call: the callback subprogram is not counted.
		{"debian-5.10", "bpf_loop", false, "number of funcs in func_info doesn't match number of subprogs"},
		{"debian-6.1", "bpf_loop", true, ""},
		// ISA v4 sdiv/smod (ec0e2da95f72, 6.6).
		{"debian-6.1", "isa_v4_sdiv_smod", false, "BPF_ALU uses reserved fields"},
		{"debian-6.12", "isa_v4_sdiv_smod", true, ""},
		{"debian-6.1", "isa_v4_movsx", false, ""},
		{"debian-6.12", "isa_v4_movsx", true, ""},
		// timers (b00628b1c7d5, 5.15).
		{"debian-5.10", "timer", false, ""},
		{"debian-6.1", "timer", true, ""},
		// fentry through a trampoline (5.5) is accepted everywhere here.
		{"debian-5.10", "fentry", true, ""},
		{"debian-6.12", "fexit", true, ""},
	} {
		t.Run(c.kernel+"/"+c.name, func(t *testing.T) {
			o := outcome(t, m[c.kernel], c.name)
			require.Equal(t, c.accepted, o.Accepted, "summary: %s\nlog: %s", o.Summary, o.Log)
			if c.logHas != "" {
				assert.Contains(t, o.Log, c.logHas)
			}
			if !c.accepted {
				assert.NotEmpty(t, o.Errno)
				assert.NotEmpty(t, o.Log, "a rejected case keeps its whole log")
			} else {
				assert.Positive(t, o.Insns)
			}
		})
	}
}

// TestVerifierNegativeCases: every negative case is rejected on every kernel,
// with the verifier message the manifest expects.
func TestVerifierNegativeCases(t *testing.T) {
	for name, kr := range realMatrix(t) {
		n := 0
		for _, o := range kr.Verifier {
			if !strings.HasPrefix(o.Case, "neg_") {
				continue
			}
			n++
			t.Run(name+"/"+o.Case, func(t *testing.T) {
				assert.False(t, o.Accepted, "negative case accepted")
				assert.Empty(t, o.Finding, "outcome contradicts the manifest")
			})
		}
		assert.GreaterOrEqual(t, n, 5, "%s: negative cases missing", name)
	}
}
