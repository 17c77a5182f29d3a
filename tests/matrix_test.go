package tests

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/bpf"
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

// debian-7.3 is the newest kernel here: its verifier logs have a shape no
// earlier kernel printed, and its enums members the tables do not know.
var matrixKernels = []string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-7.3"}

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
		if matrixErr == nil {
			// What `bpfmatrix run` writes (matrix.Write does this).
			matrix.ExplainAcrossKernels(matrixResult)
		}
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

// TestMatrixGate asserts, per class of issue 15, cells whose status or
// reason was wrong in the published matrix, on the kernels where it shows.
func TestMatrixGate(t *testing.T) {
	m := realMatrix(t)
	type cell struct {
		class, kernel, progType, name string
		kind                          result.Kind
		status                        result.Status
		reason                        result.ReasonKind
		version, config               string
	}
	for _, c := range []cell{
		// 1. Attach type: libbpf loads cgroup/dev and cgroup/sysctl with
		// their expected attach types, which get bpf_get_retval and
		// bpf_set_retval (cgroup_common_func_proto, 5.18); lsm_cgroup gets
		// bpf_setsockopt on socket hooks, lsm_mac does not.
		{class: "attach", kernel: "debian-6.1", kind: result.KindHelper, progType: "cgroup_device", name: "bpf_get_retval", status: result.Supported},
		{class: "attach", kernel: "debian-6.1", kind: result.KindHelper, progType: "cgroup_sysctl", name: "bpf_set_retval", status: result.Supported},
		{class: "attach", kernel: "debian-7.3", kind: result.KindHelper, progType: "cgroup_device", name: "bpf_set_retval", status: result.Supported},
		{class: "attach", kernel: "debian-6.1", kind: result.KindHelper, progType: "cgroup_sockopt", name: "bpf_setsockopt", status: result.Supported},
		{class: "attach", kernel: "debian-6.12", kind: result.KindHelper, progType: "lsm", name: "bpf_setsockopt", status: result.Supported},
		// 2. Extensions: the 19 packet-changing helpers XDP does not have
		// are not offered to an extension of an XDP program, on 6.12+ too.
		{class: "ext", kernel: "debian-6.12", kind: result.KindHelper, progType: "ext", name: "bpf_skb_store_bytes", status: result.Unsupported, reason: result.ReasonProgramType},
		{class: "ext", kernel: "debian-7.3", kind: result.KindHelper, progType: "ext", name: "bpf_skb_change_head", status: result.Unsupported, reason: result.ReasonProgramType},
		{class: "ext", kernel: "debian-7.3", kind: result.KindHelper, progType: "ext", name: "bpf_xdp_adjust_head", status: result.Supported},
		// 3. Existence is not support: 6.1 declares the struct_ops link
		// type for internal use; BPF_LINK_CREATE for struct_ops maps is 6.4.
		{class: "link", kernel: "debian-6.1", kind: result.KindLinkType, name: "struct_ops", status: result.Unsupported, reason: result.ReasonVersion, version: "6.4"},
		{class: "link", kernel: "debian-6.12", kind: result.KindLinkType, name: "struct_ops", status: result.Supported},
		{class: "link", kernel: "debian-5.10", kind: result.KindLinkType, name: "perf_event", status: result.Unsupported, reason: result.ReasonVersion, version: "5.15"},
		{class: "link", kernel: "debian-6.1", kind: result.KindLinkType, name: "xdp", status: result.Supported},
		// 4. Reasons: the release that opened a helper to a program type,
		// and the config option a helper needs.
		{class: "reason", kernel: "debian-6.1", kind: result.KindHelper, progType: "raw_tracepoint", name: "bpf_get_attach_cookie", status: result.Unsupported, reason: result.ReasonProgramType, version: "6.10"},
		{class: "reason", kernel: "debian-5.10", kind: result.KindHelper, progType: "raw_tracepoint", name: "bpf_get_attach_cookie", status: result.Unsupported, reason: result.ReasonProgramType, version: "6.10"},
		{class: "reason", kernel: "debian-6.12", kind: result.KindHelper, progType: "raw_tracepoint", name: "bpf_get_attach_cookie", status: result.Supported},
		{class: "reason", kernel: "debian-6.1", kind: result.KindHelper, progType: "kprobe", name: "bpf_override_return", status: result.Unsupported, reason: result.ReasonConfig, config: "CONFIG_BPF_KPROBE_OVERRIDE"},
		// 6. Members 7.3 declares that the tables do not know: no probe can
		// judge them (a plain create of insn_array is refused), so present.
		{class: "enum", kernel: "debian-7.3", kind: result.KindLinkType, name: "tracing_multi", status: result.Present},
		{class: "enum", kernel: "debian-7.3", kind: result.KindMapType, name: "insn_array", status: result.Present},
		{class: "enum", kernel: "debian-6.1", kind: result.KindAttachType, name: "xdp_devmap", status: result.Supported},
	} {
		t.Run(c.class+"/"+c.kernel+"/"+c.progType+"/"+c.name, func(t *testing.T) {
			f := feature(t, m[c.kernel], c.kind, c.progType, c.name)
			require.Equal(t, c.status, f.Status, "%+v %+v", f, f.Reason)
			if c.status != result.Unsupported {
				return
			}
			require.NotNil(t, f.Reason)
			assert.Equal(t, c.reason, f.Reason.Kind, "%+v", f.Reason)
			assert.Equal(t, c.version, f.Reason.Version, "%+v", f.Reason)
			assert.Equal(t, c.config, f.Reason.Config, "%+v", f.Reason)
		})
	}

	// 2, in bulk: no extension helper is supported that the XDP program
	// type itself is not offered.
	for name, kr := range m {
		for _, f := range kr.Features {
			if f.Kind == result.KindHelper && f.ProgramType == "ext" && f.Status == result.Supported {
				assert.Equal(t, result.Supported, feature(t, kr, result.KindHelper, "xdp", f.Name).Status, "%s: ext %s", name, f.Name)
			}
		}
	}

	// 4, in bulk: every unsupported cell's reason agrees with the later
	// kernels of the run.
	assert.Empty(t, matrix.ReasonViolations(matrixResult))

	// 5. Log shape: on 7.3 every negative case's summary is the
	// verifier's own message, which the manifest's pattern matches.
	cases, err := bpf.Cases()
	require.NoError(t, err)
	for _, c := range cases {
		for name, kr := range m {
			o := outcome(t, kr, c.Name)
			if c.Expect == bpf.ExpectReject {
				assert.Regexp(t, c.Message, o.Log, "%s %s", name, c.Name)
				// The summary is one of the verifier's own lines, never a
				// statistics line (7.3 adds "subprog 0 (...) insns_self N").
				assert.NotEmpty(t, o.Summary, "%s %s", name, c.Name)
				assert.Contains(t, o.Log, o.Summary, "%s %s", name, c.Name)
				assert.NotRegexp(t, `insns_self|^processed \d+ insns|^verification time`, o.Summary, "%s %s", name, c.Name)
			}
			// 7. A case's before pattern is what a kernel older than the
			// case's version says.
			kv, err := catalog.ParseVersion(kr.Kernel.Version)
			require.NoError(t, err)
			since, err := catalog.ParseVersion(c.For(string(kr.Kernel.Arch)).Since)
			require.NoError(t, err)
			if c.Before != "" && kv.Less(since) && !o.Accepted {
				assert.Regexp(t, c.Before, o.Log+"\n"+o.Summary, "%s %s: before pattern", name, c.Name)
			}
			// 7. No outcome is unexpected: a stable backport is an
			// expected acceptance, and the judge asserts before patterns.
			assert.Empty(t, o.Finding, "%s %s", name, c.Name)
			if o.Inconclusive == "" {
				require.NotNil(t, o.Expected, "%s %s", name, c.Name)
				assert.Equal(t, *o.Expected, o.Accepted, "%s %s: %+v", name, c.Name, o.Reason)
			}
		}
	}
	for _, c := range []struct {
		kernel, name string
		accepted     bool
		reason       result.ReasonKind
		version      string
	}{
		// isa_v4_gotol (4cd58e9af8b9, 6.6) came to stable 6.1.72, which
		// Debian 6.1.192 includes; x86_64's JIT emits it.
		{"debian-6.1", "isa_v4_gotol", true, result.ReasonBackport, "6.1.72"},
		{"debian-5.10", "isa_v4_gotol", false, result.ReasonVersion, "6.6"},
		{"debian-6.12", "isa_v4_gotol", true, "", ""},
		{"debian-5.10", "timer", false, result.ReasonVersion, "5.15"},
		{"debian-5.10", "user_ringbuf", false, result.ReasonVersion, "6.1"},
		// dynptr: 5.19 (97e03f521050, bc34dee65a65), not 6.0.
		{"debian-6.1", "dynptr", true, "", ""},
		{"debian-5.10", "dynptr", false, result.ReasonVersion, "5.19"},
		// task_storage from a tp_btf program: a10787e6d58c (5.13), not
		// the LSM-only map of 5.11.
		{"debian-5.10", "task_storage", false, result.ReasonVersion, "5.13"},
		// kptr: bpf_task_acquire is 90660309b0c7 (6.2); the tag rename
		// (03b77e17aeb2, 6.3) is handled by the case's fixup.
		{"debian-6.1", "kptr", false, result.ReasonVersion, "6.2"},
		{"debian-6.12", "kptr", true, "", ""},
	} {
		t.Run("corpus/"+c.kernel+"/"+c.name, func(t *testing.T) {
			o := outcome(t, m[c.kernel], c.name)
			require.Equal(t, c.accepted, o.Accepted, "%s", o.Summary)
			if c.reason == "" {
				assert.Nil(t, o.Reason, "%+v", o.Reason)
				return
			}
			require.NotNil(t, o.Reason)
			assert.Equal(t, c.reason, o.Reason.Kind, "%+v", o.Reason)
			assert.Equal(t, c.version, o.Reason.Version, "%+v", o.Reason)
		})
	}

	// 7. Uninitialised stack reads: 6715df8d5d24 (6.5) let a privileged
	// program read them; stable 6.1.100 took it (Debian's changelog), so
	// 6.1.192 already refuses only the dereference, as 6.12 does, and
	// 5.10 still refuses the read.
	for kernel, msg := range map[string]string{
		"debian-5.10": "invalid read from stack", "debian-6.1": "invalid mem access 'scalar'", "debian-6.12": "invalid mem access 'scalar'",
	} {
		assert.Contains(t, outcome(t, m[kernel], "neg_uninit_stack").Summary, msg, kernel)
	}

	// 8. bpftool's disagreements are grouped by what it gets wrong: the
	// causes add up to the count, none is unexplained, and on 6.12+ most
	// are misread refusals ("program of this type cannot use helper").
	for name, kr := range m {
		require.NotNil(t, kr.Bpftool, name)
		require.True(t, kr.Bpftool.Ran, "%s: %s", name, kr.Bpftool.Error)
		sum := 0
		causes := map[string]int{}
		for _, c := range kr.Bpftool.Causes {
			sum += c.Cells
			causes[c.Cause] = c.Cells
			assert.NotEqual(t, c.Cause, c.Text, "%s: %s has no sentence", name, c.Cause)
		}
		assert.Equal(t, kr.Bpftool.Disagreements, sum, name)
		assert.Zero(t, causes["other"], "%s: disagreements without a cause", name)
		assert.Positive(t, causes["no attach target"], name)
		assert.Positive(t, causes["skipped: writes to the kernel log"], name)
		if name == "debian-6.12" || name == "debian-7.3" {
			assert.Greater(t, causes["misread refusal"], kr.Bpftool.Disagreements/2, name)
			assert.Positive(t, causes["helper unknown to bpftool"], name)
		}
	}
	assert.Equal(t, "supported (misread refusal)", feature(t, m["debian-6.12"], result.KindHelper, "kprobe", "bpf_skb_store_bytes").Bpftool)
	md := string(matrix.Markdown(matrixResult))
	assert.Contains(t, md, "## bpftool cross-check")
	assert.Contains(t, md, "misreads newer verifier messages")
}
