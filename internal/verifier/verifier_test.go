package verifier

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/bpfmatrix/bpfmatrix/bpf"
	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The logs in testdata are level-2 logs captured from the 6.18 host with
// `bpfmatrix-agent verify --json --case ...`.
func TestParseStatsAndSummary(t *testing.T) {
	for _, tc := range []struct {
		file    string
		insns   int
		summary string
	}{
		{"neg_map_value_oob.6.18.log", 8, "R0 min value is outside of the allowed memory range"},
		{"neg_unbounded_loop.6.18.log", 11, "infinite loop detected at insn 2"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/" + tc.file)
			require.NoError(t, err)
			st := ParseStats(string(raw))
			assert.Equal(t, tc.insns, st.Insns)
			assert.GreaterOrEqual(t, st.VerifyUsec, int64(0))
			assert.True(t, strings.HasPrefix(st.Processed, "processed "))
			assert.Equal(t, tc.summary, SummaryLine(string(raw)))
			assert.NotContains(t, Excerpt(string(raw), 8), "processed ")
		})
	}
	assert.Equal(t, int64(-1), ParseStats("no stats here").VerifyUsec)
}

func caseNamed(t *testing.T, name string) bpf.Case {
	t.Helper()
	cases, err := Cases()
	require.NoError(t, err)
	for _, c := range cases {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no case %s", name)
	return bpf.Case{}
}

// TestExpectFlips documents where cases flip between the catalog's kernels;
// the VM tests assert the same on real boots.
func TestExpectFlips(t *testing.T) {
	debian := map[string]string{"CONFIG_DEBUG_INFO_BTF": "y", "CONFIG_BPF_LSM": "y", "CONFIG_BPF_JIT": "y", "CONFIG_NET": "y", "CONFIG_MMU": "y", "CONFIG_NET_CLS_BPF": "m"}
	for _, tc := range []struct {
		name   string
		kernel string
		want   bool
	}{
		{"bpf_loop", "5.10", false},
		{"bpf_loop", "6.1", true},
		{"isa_v4_sdiv_smod", "6.1", false},
		{"isa_v4_sdiv_smod", "6.12", true},
		{"may_goto", "6.6", false},
		{"may_goto", "6.12", true},
		{"open_coded_iter", "6.1", false},
		{"open_coded_iter", "6.12", true},
		{"kfunc_call", "6.1", false},
		{"kfunc_call", "6.12", true},
		{"timer", "5.10", false},
		{"timer", "6.1", true},
		{"tail_call_subprog", "5.10", true},
		{"neg_map_value_oob", "6.12", false},
		{"load_acquire", "6.12", false},
	} {
		t.Run(tc.name+"@"+tc.kernel, func(t *testing.T) {
			v, err := catalog.ParseVersion(tc.kernel)
			require.NoError(t, err)
			got, why := Expect(caseNamed(t, tc.name), Kernel{Version: v, Config: debian})
			assert.Equal(t, tc.want, got, why)
		})
	}
	// The arm64 JIT mixes BPF-to-BPF calls and tail calls from 6.0
	// (d4609a5d8c70); x86-64's from 5.10.
	for _, tc := range []struct {
		arch   catalog.Arch
		kernel string
		want   bool
		why    string
	}{
		{catalog.AMD64, "5.10", true, "kernel 5.10 >= 5.10"},
		{catalog.ARM64, "5.10", false, `needs 6.0 on arm64 (d4609a5d8c70 "bpf, arm64: Keep tail call count across bpf2bpf calls"), kernel is 5.10`},
		{catalog.ARM64, "6.1", true, "kernel 6.1 >= 6.0 on arm64"},
		{"", "5.10", true, "kernel 5.10 >= 5.10"},
	} {
		t.Run("tail_call_subprog@"+tc.kernel+"/"+string(tc.arch), func(t *testing.T) {
			v, err := catalog.ParseVersion(tc.kernel)
			require.NoError(t, err)
			got, why := Expect(caseNamed(t, "tail_call_subprog"), Kernel{Version: v, Config: debian, Arch: tc.arch})
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.why, why)
		})
	}
	t.Run("config missing", func(t *testing.T) {
		got, why := Expect(caseNamed(t, "lsm"), Kernel{Version: catalog.Version{Major: 6, Minor: 1}, Config: map[string]string{"CONFIG_DEBUG_INFO_BTF": "y", "CONFIG_BPF_LSM": "n"}})
		assert.False(t, got)
		assert.Contains(t, why, "CONFIG_BPF_LSM")
	})
	t.Run("config unknown", func(t *testing.T) {
		got, _ := Expect(caseNamed(t, "lsm"), Kernel{Version: catalog.Version{Major: 6, Minor: 1}})
		assert.True(t, got)
	})
}

func TestJudge(t *testing.T) {
	k61 := Kernel{Version: catalog.Version{Major: 6, Minor: 1}}
	for _, tc := range []struct {
		name    string
		out     result.VerifierOutcome
		finding string
	}{
		{"bpf_loop", result.VerifierOutcome{Accepted: true}, ""},
		{"bpf_loop", result.VerifierOutcome{Summary: "unknown func bpf_loop#181", Log: "0: (85) call bpf_loop#181\nunknown func bpf_loop#181"}, "rejected although expected"},
		{"isa_v4_bswap", result.VerifierOutcome{Accepted: true}, "accepted although not expected"},
		{"isa_v4_bswap", result.VerifierOutcome{Summary: "invalid BPF_ALU opcode d0"}, ""},
		{"neg_div_by_zero", result.VerifierOutcome{Summary: "div by zero"}, ""},
		{"neg_div_by_zero", result.VerifierOutcome{Summary: "something else"}, "rejected, but not with"},
		{"neg_div_by_zero", result.VerifierOutcome{Accepted: true}, "every kernel should reject"},
		{"bpf_loop", result.VerifierOutcome{Inconclusive: "operation not permitted"}, ""},
	} {
		t.Run(tc.name+"/"+tc.finding, func(t *testing.T) {
			o := tc.out
			Judge(caseNamed(t, tc.name), &o, k61)
			require.NotNil(t, o.Expected)
			if tc.finding == "" {
				assert.Empty(t, o.Finding)
			} else {
				assert.Contains(t, o.Finding, tc.finding)
			}
		})
	}
}

func TestWriteLogs(t *testing.T) {
	dir := t.TempDir()
	outs := []result.VerifierOutcome{
		{Case: "neg_div_by_zero", Log: "0: (37) r0 /= 0\ndiv by zero"},
		{Object: "/x/user.o", Program: "prog", Log: "log"},
		{Case: "bpf_loop", Accepted: true},
	}
	require.NoError(t, WriteLogs(dir, outs))
	assert.Equal(t, "neg_div_by_zero.log", outs[0].LogFile)
	assert.Equal(t, "user.prog.log", outs[1].LogFile)
	assert.Empty(t, outs[0].Log)
	assert.Empty(t, outs[2].LogFile)
	raw, err := os.ReadFile(dir + "/neg_div_by_zero.log")
	require.NoError(t, err)
	assert.Equal(t, "0: (37) r0 /= 0\ndiv by zero\n", string(raw))
}

func TestErrnoName(t *testing.T) {
	assert.Equal(t, "EACCES", errnoName(syscall.EACCES))
	assert.Equal(t, "ENOTSUPP", errnoName(syscall.Errno(524)))
	assert.Equal(t, "errno 4095", errnoName(syscall.Errno(4095)))
}

// TestExpectNeedsJIT: the manifest's jit cases are expected rejections on
// an interpreter-only kernel (no CONFIG_BPF_JIT, or the sysctl at 0) and
// the others keep their expectation.
func TestExpectNeedsJIT(t *testing.T) {
	v61 := catalog.Version{Major: 6, Minor: 1}
	noJIT := Kernel{Version: v61, Config: map[string]string{"CONFIG_BPF_SYSCALL": "y"}}
	jitOff := Kernel{Version: v61, Config: map[string]string{"CONFIG_BPF_JIT": "y"}, JITOff: "net.core.bpf_jit_enable is 0"}
	jitOn := Kernel{Version: v61, Config: map[string]string{"CONFIG_BPF_JIT": "y"}}
	for _, tc := range []struct {
		name string
		k    Kernel
		want bool
		why  string
	}{
		{"bpf_loop", noJIT, false, "needs the JIT: CONFIG_BPF_JIT not set in the kernel config"},
		{"for_each_map_elem", noJIT, false, "needs the JIT: CONFIG_BPF_JIT not set in the kernel config"},
		{"freplace", jitOff, false, "needs the JIT: net.core.bpf_jit_enable is 0"},
		{"timer", jitOff, false, "needs the JIT: net.core.bpf_jit_enable is 0"},
		{"bpf_loop", jitOn, true, "kernel 6.1 >= 5.17"},
		{"bpf_to_bpf_call", noJIT, true, "kernel 6.1 >= 4.16"},
		{"bpf_loop", Kernel{Version: v61}, true, "kernel 6.1 >= 5.17"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := Expect(caseNamed(t, tc.name), tc.k)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.why, why)
		})
	}
}
