package verifier

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/bpfmatrix/bpfmatrix/bpf"
	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/cilium/ebpf/btf"
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
	// The logs of debian-5.10 (x86_64, 5.10.251) and debian-6.1-arm64
	// (6.1.192), from the run's result cache.
	k510 := Kernel{Version: catalog.Version{Major: 5, Minor: 10}, Stable: catalog.Version{Major: 5, Minor: 10, Patch: 251}, Arch: catalog.AMD64}
	arm61 := Kernel{Version: k61.Version, Stable: catalog.Version{Major: 6, Minor: 1, Patch: 192}, Arch: catalog.ARM64}
	for _, tc := range []struct {
		name    string
		k       Kernel
		out     result.VerifierOutcome
		finding string
	}{
		{"timer", k510, result.VerifierOutcome{Errno: "EINVAL", Summary: "number of funcs in func_info doesn't match number of subprogs"}, ""},
		{"timer", k510, result.VerifierOutcome{Errno: "EINVAL", Summary: "R1 type=ctx expected=map_value"}, "but not with"},
		{"user_ringbuf", k510, result.VerifierOutcome{Errno: "EINVAL", Summary: "map input: map create: invalid argument"}, ""},
		{"snprintf_fmt", k510, result.VerifierOutcome{Errno: "EINVAL", Summary: "invalid func unknown#165"}, ""},
		{"isa_v4_gotol", arm61, result.VerifierOutcome{Errno: "ENOTSUPP", Summary: jitSummary}, ""},
		{"isa_v4_gotol", arm61, result.VerifierOutcome{Errno: "EINVAL", Summary: "unknown opcode 06"}, "not with ENOTSUPP"},
		{"isa_v4_gotol", Kernel{Version: k61.Version, Stable: arm61.Stable, Arch: catalog.AMD64}, result.VerifierOutcome{Accepted: true}, ""},
	} {
		t.Run(tc.name+"@"+tc.k.Stable.String()+"/"+string(tc.k.Arch), func(t *testing.T) {
			o := tc.out
			Judge(caseNamed(t, tc.name), &o, tc.k)
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

// TestStableRelease reads the stable release from the banners of the
// catalog's Debian kernels (the strings in their images, as /proc/version
// prints them): the arm64 banner names the compiler's Debian version first.
func TestStableRelease(t *testing.T) {
	for _, tc := range []struct {
		name, release, banner, want string
	}{
		{"debian-6.1", "6.1.0-57-cloud-amd64", "Linux version 6.1.0-57-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26)", "6.1.192"},
		{"debian-6.1-arm64", "6.1.0-57-cloud-arm64", "Linux version 6.1.0-57-cloud-arm64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP Debian 6.1.192-3 (2026-11-26)", "6.1.192"},
		{"host", "6.18.44-fc-v1045", "Linux version 6.18.44-fc-v1045 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0", "6.18.44"},
		{"unknown", "6.1.0-57-cloud-amd64", "", "0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, StableRelease(tc.release, tc.banner).String())
		})
	}
}

// TestExpectCaseReasons covers the corpus metadata the expectation reads
// (issue 15.7): a stable backport, a JIT that lacks what the backport's
// verifier takes, tracing programs arm64 cannot attach before 6.4, and the
// reason kinds of a case a kernel is too old for.
func TestExpectCaseReasons(t *testing.T) {
	debian := map[string]string{"CONFIG_DEBUG_INFO_BTF": "y", "CONFIG_BPF_LSM": "y", "CONFIG_BPF_JIT": "y", "CONFIG_NET": "y"}
	v61 := catalog.Version{Major: 6, Minor: 1}
	for _, tc := range []struct {
		name    string
		kernel  Kernel
		accept  bool
		kind    result.ReasonKind // "": no reason
		version string
		config  string
		jit     bool
		before  bool
	}{
		{"isa_v4_gotol", Kernel{Version: v61, Stable: catalog.Version{Major: 6, Minor: 1, Patch: 192}, Arch: catalog.AMD64, Config: debian}, true, result.ReasonBackport, "6.1.72", "", false, false},
		{"isa_v4_gotol", Kernel{Version: v61, Stable: catalog.Version{Major: 6, Minor: 1, Patch: 71}, Arch: catalog.AMD64, Config: debian}, false, result.ReasonVersion, "6.6", "", false, false},
		{"isa_v4_gotol", Kernel{Version: v61, Arch: catalog.AMD64, Config: debian}, false, result.ReasonVersion, "6.6", "", false, false},
		{"isa_v4_gotol", Kernel{Version: v61, Stable: catalog.Version{Major: 6, Minor: 1, Patch: 192}, Arch: catalog.ARM64, Config: debian}, false, result.ReasonArch, "6.6", "", true, false},
		{"isa_v4_gotol", Kernel{Version: catalog.Version{Major: 6, Minor: 12}, Stable: catalog.Version{Major: 6, Minor: 12, Patch: 117}, Arch: catalog.ARM64, Config: debian}, true, "", "", "", false, false},
		{"fentry", Kernel{Version: v61, Arch: catalog.ARM64, Config: debian}, true, result.ReasonArch, "6.4", "", false, false},
		{"fmod_ret", Kernel{Version: catalog.Version{Major: 5, Minor: 10}, Arch: catalog.ARM64, Config: debian}, true, result.ReasonArch, "6.4", "", false, false},
		{"lsm", Kernel{Version: catalog.Version{Major: 6, Minor: 12}, Arch: catalog.ARM64, Config: debian}, true, "", "", "", false, false},
		{"fexit", Kernel{Version: v61, Arch: catalog.AMD64, Config: debian}, true, "", "", "", false, false},
		{"bpf_loop", Kernel{Version: catalog.Version{Major: 5, Minor: 10}, Arch: catalog.AMD64, Config: debian}, false, result.ReasonVersion, "5.17", "", false, true},
		{"tail_call_subprog", Kernel{Version: catalog.Version{Major: 5, Minor: 10}, Arch: catalog.ARM64, Config: debian}, false, result.ReasonArch, "6.0", "", false, false},
		{"lsm", Kernel{Version: v61, Arch: catalog.AMD64, Config: map[string]string{"CONFIG_DEBUG_INFO_BTF": "y"}}, false, result.ReasonConfig, "5.7", "CONFIG_BPF_LSM", false, false},
		{"neg_div_by_zero", Kernel{Version: v61, Arch: catalog.AMD64}, false, "", "", "", false, false},
	} {
		t.Run(tc.name+"@"+tc.kernel.Version.String()+"."+tc.kernel.Stable.String()+"/"+string(tc.kernel.Arch), func(t *testing.T) {
			e := ExpectCase(caseNamed(t, tc.name), tc.kernel)
			assert.Equal(t, tc.accept, e.Accept, e.Why)
			assert.Equal(t, tc.jit, e.JIT)
			assert.Equal(t, tc.before, e.Before != "")
			if tc.kind == "" {
				assert.Nil(t, e.Reason)
				return
			}
			require.NotNil(t, e.Reason, e.Why)
			assert.Equal(t, tc.kind, e.Reason.Kind)
			assert.Equal(t, tc.version, e.Reason.Version)
			assert.Equal(t, tc.config, e.Reason.Config)
		})
	}
}

// TestKptrTag: the kptr case's map value member carries the tag that the
// loading kernel reads as a referenced kptr ("kptr_ref" before 6.3).
func TestKptrTag(t *testing.T) {
	for _, tc := range []struct {
		kernel catalog.Version
		tag    string
	}{
		{catalog.Version{Major: 6, Minor: 2}, "kptr_ref"},
		{catalog.Version{Major: 6, Minor: 3}, "kptr"},
		{catalog.Version{Major: 6, Minor: 12}, "kptr"},
	} {
		t.Run(tc.kernel.String(), func(t *testing.T) {
			spec, _, err := CaseSpec(caseNamed(t, "kptr"), Kernel{Version: tc.kernel})
			require.NoError(t, err)
			val := spec.Maps["tasks"].Value.(*btf.Struct)
			require.Len(t, val.Members, 1)
			tag, ok := val.Members[0].Type.(*btf.Pointer).Target.(*btf.TypeTag)
			require.True(t, ok)
			assert.Equal(t, tc.tag, tag.Value)
		})
	}
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
