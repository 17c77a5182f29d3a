package probe

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/kconfig"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

var bpftoolName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func allSpecs() []Spec {
	var out []Spec
	for _, l := range [][]Spec{ProgramTypes, MapTypes, LinkTypes, MiscFeatures} {
		out = append(out, l...)
	}
	for _, a := range attachTypes {
		out = append(out, a.Spec)
	}
	for _, h := range helpers {
		s, _ := LookupSpec(result.KindHelper, h.Name)
		out = append(out, s)
	}
	return out
}

func TestTablesHaveVersionsAndNames(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range allSpecs() {
		t.Run(string(s.Kind)+"/"+s.Name, func(t *testing.T) {
			assert.Regexp(t, bpftoolName, s.Name)
			_, err := catalog.ParseVersion(s.Version)
			assert.NoError(t, err, "every feature names the mainline version that introduced it")
			assert.False(t, seen[string(s.Kind)+"/"+s.Name], "duplicate")
			seen[string(s.Kind)+"/"+s.Name] = true
			if s.Commit != "" {
				assert.Regexp(t, `^[0-9a-f]{12}$`, s.Commit)
			}
			for _, c := range s.Config {
				assert.Regexp(t, `^CONFIG_[A-Z0-9_]+$`, c)
			}
			if s.Kind == result.KindHelper {
				assert.True(t, strings.HasPrefix(s.Name, "bpf_"))
			}
			if s.Kind == result.KindAttachType || s.Kind == result.KindLinkType {
				_, ok := LookupSpec(result.KindProgramType, s.ProgramType)
				assert.True(t, ok, "program type %q", s.ProgramType)
			}
		})
	}
}

// TestNamesMatchBpftool: every program type, map type and helper bpftool
// reports is spelled the same way in our tables (fixture from the real
// bpftool 7.1 on the host).
func TestNamesMatchBpftool(t *testing.T) {
	raw, err := os.ReadFile("testdata/bpftool-7.1-feature-probe-6.18.json")
	require.NoError(t, err)
	claims, err := ParseBpftool(raw)
	require.NoError(t, err)
	require.NotEmpty(t, claims)
	kinds := map[result.Kind]int{}
	for key := range claims {
		parts := strings.Split(key, "/")
		kind := result.Kind(parts[0])
		kinds[kind]++
		name := parts[len(parts)-1]
		_, ok := LookupSpec(kind, name)
		assert.True(t, ok, "bpftool's %s is not in our tables", key)
		if kind == result.KindHelper {
			_, ok := LookupSpec(result.KindProgramType, parts[1])
			assert.True(t, ok, "bpftool's program type %s", parts[1])
		}
	}
	assert.Equal(t, 31, kinds[result.KindProgramType])
	assert.Equal(t, 31, kinds[result.KindMapType])
	assert.Equal(t, 4, kinds[result.KindMisc])
}

func TestHelperTable(t *testing.T) {
	require.Len(t, helpers, 211)
	for i, h := range helpers {
		assert.Equal(t, int32(i+1), h.ID)
	}
	// Spot checks against include/uapi/linux/bpf.h.
	for id, name := range map[int32]string{1: "bpf_map_lookup_elem", 9: "bpf_skb_store_bytes", 130: "bpf_ringbuf_output",
		158: "bpf_get_current_task_btf", 166: "bpf_sys_bpf", 181: "bpf_loop", 211: "bpf_cgrp_storage_delete"} {
		assert.Equal(t, name, helpers[id-1].Name, "helper %d", id)
	}
}

// TestRelevantConfig keeps the BPF options of a real config (the development
// host's, parsed by internal/kconfig) and drops the rest.
func TestRelevantConfig(t *testing.T) {
	cfg, err := kconfig.Read("../kconfig/testdata/config-6.18.44-fc.gz")
	require.NoError(t, err)
	rel := RelevantConfig(cfg)
	assert.Contains(t, rel, "CONFIG_DEBUG_INFO_BTF")
	assert.NotContains(t, rel, "CONFIG_EXT4_FS")
}

func TestClassify(t *testing.T) {
	cfg := KernelConfig{"CONFIG_BPF_SYSCALL": "y", "CONFIG_BPF_LIRC_MODE2": "n", "CONFIG_BPF_LSM": "y", "CONFIG_DEBUG_INFO_BTF": "y"}
	env61 := Env{Version: Version{Major: 6, Minor: 1}, Config: cfg}
	for _, tc := range []struct {
		name    string
		env     Env
		obs     Observation
		status  result.Status
		reason  result.ReasonKind
		detail  string
		finding bool
	}{
		{"too old", env61, Observation{Kind: result.KindMapType, Name: "arena", Outcome: OutcomeNotInEnum},
			result.Unsupported, result.ReasonVersion, "introduced in 6.9", false},
		{"config missing", env61, Observation{Kind: result.KindProgramType, Name: "lirc_mode2", Outcome: OutcomeNotSupported},
			result.Unsupported, result.ReasonConfig, "needs CONFIG_BPF_LIRC_MODE2", false},
		{"should be there", env61, Observation{Kind: result.KindMapType, Name: "ringbuf", Outcome: OutcomeNotSupported, Err: "invalid argument"},
			result.Unsupported, result.ReasonUnexplained, "rejected by the kernel (invalid argument)", true},
		{"no config known", Env{Version: Version{Major: 6, Minor: 1}}, Observation{Kind: result.KindProgramType, Name: "lirc_mode2", Outcome: OutcomeNotSupported},
			result.Unsupported, result.ReasonUnexplained, "rejected by the kernel; kernel config unknown, may need [CONFIG_BPF_LIRC_MODE2]", true},
		{"privilege", env61, Observation{Kind: result.KindProgramType, Name: "lsm", Outcome: OutcomePrivilege, Err: "operation not permitted"},
			result.Unsupported, result.ReasonPrivilege, "operation not permitted", false},
		{"not offered", env61, Observation{Kind: result.KindHelper, Name: "bpf_skb_store_bytes", ProgramType: "kprobe", Outcome: OutcomeNotOffered},
			result.Unsupported, result.ReasonProgramType, "", false},
		{"inconclusive", env61, Observation{Kind: result.KindHelper, Name: "bpf_loop", ProgramType: "xdp", Outcome: OutcomeError, Err: "boom"},
			result.Inconclusive, "", "", false},
		{"supported", env61, Observation{Kind: result.KindMapType, Name: "ringbuf", Outcome: OutcomeSupported},
			result.Supported, "", "", false},
		// Captured from a 7.3 result (~/.cache/bpfmatrix/results): a link
		// type the tables do not know and no probe creates.
		{"present", Env{Version: Version{Major: 7, Minor: 3}, Config: cfg}, Observation{Kind: result.KindLinkType, Name: "tracing_multi", Outcome: OutcomePresent,
			Value: "present, not probed: BPF_LINK_TYPE_TRACING_MULTI = 15 in the kernel's enum bpf_link_type"},
			result.Present, "", "", false},
		// Captured on debian-6.1-arm64 and debian-5.10-arm64: the fentry
		// attach fails with ENOTSUPP until arm64 has ftrace direct calls.
		{"later on arm64", Env{Version: Version{Major: 6, Minor: 1}, Arch: "arm64", Config: KernelConfig{"CONFIG_DEBUG_INFO_BTF": "y", "CONFIG_FUNCTION_TRACER": "y"}},
			Observation{Kind: result.KindMisc, Name: "trampolines", Outcome: OutcomeNotSupported, Err: "attach fentry: errno 524"},
			result.Unsupported, result.ReasonArch, "fentry on kernel functions needs ftrace direct calls", false},
		{"arm64 minimum does not apply to x86_64", Env{Version: Version{Major: 6, Minor: 1}, Arch: "x86_64", Config: KernelConfig{"CONFIG_DEBUG_INFO_BTF": "y", "CONFIG_FUNCTION_TRACER": "y"}},
			Observation{Kind: result.KindMisc, Name: "trampolines", Outcome: OutcomeNotSupported, Err: "attach fentry: errno 524"},
			result.Unsupported, result.ReasonUnexplained, "rejected by the kernel (attach fentry: errno 524)", true},
		{"arm64 at its minimum", Env{Version: Version{Major: 6, Minor: 4}, Arch: "arm64", Config: KernelConfig{"CONFIG_DEBUG_INFO_BTF": "y", "CONFIG_FUNCTION_TRACER": "y"}},
			Observation{Kind: result.KindMisc, Name: "trampolines", Outcome: OutcomeNotSupported, Err: "attach fentry: errno 524"},
			result.Unsupported, result.ReasonUnexplained, "rejected by the kernel (attach fentry: errno 524)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := Classify(tc.env, []Observation{tc.obs})
			require.Len(t, fs, 1)
			f := fs[0]
			assert.Equal(t, tc.status, f.Status)
			if tc.status == result.Unsupported {
				require.NotNil(t, f.Reason, "unsupported always carries a reason")
				assert.Equal(t, tc.reason, f.Reason.Kind)
				assert.Equal(t, tc.detail, f.Reason.Detail)
			} else {
				assert.Nil(t, f.Reason)
			}
			if tc.status == result.Inconclusive {
				assert.Equal(t, "boom", f.Error)
			}
			if tc.status == result.Present {
				assert.Equal(t, tc.obs.Value, f.Value, "a present cell keeps what was seen")
				assert.Empty(t, f.Error)
			}
			assert.Equal(t, tc.finding, f.Finding != "")
		})
	}
}

func TestClassifyCopiesProgramTypeReason(t *testing.T) {
	env := Env{Version: Version{Major: 5, Minor: 4}, Config: KernelConfig{"CONFIG_BPF_LSM": "y"}}
	fs := Classify(env, []Observation{
		{Kind: result.KindHelper, Name: "bpf_d_path", ProgramType: "lsm", Outcome: OutcomeProgramTypeMissing},
		{Kind: result.KindProgramType, Name: "lsm", Outcome: OutcomeNotInEnum},
		{Kind: result.KindAttachType, Name: "lsm_mac", Outcome: OutcomeProgramTypeMissing, Requires: "lsm"},
	})
	require.Len(t, fs, 3)
	for _, f := range fs {
		require.NotNil(t, f.Reason, f.Key())
		assert.Equal(t, result.ReasonVersion, f.Reason.Kind, f.Key())
		assert.Equal(t, "5.7", f.Reason.Version, f.Key())
	}
	assert.Empty(t, fs[2].ProgramType, "attach types keep no program type: their key must not change between kernels")
}

func TestVersionViolations(t *testing.T) {
	fs := []result.Feature{
		{Kind: result.KindMapType, Name: "arena", Status: result.Supported},
		{Kind: result.KindMapType, Name: "ringbuf", Status: result.Supported},
		{Kind: result.KindMapType, Name: "hash", Status: result.Unsupported, Finding: "map_type hash: rejected"},
	}
	got := VersionViolations(Version{Major: 6, Minor: 1}, "x86_64", fs)
	assert.Equal(t, []string{"map_type/arena: supported on 6.1 but the table says introduced in 6.9", "map_type hash: rejected"}, got)
}

func TestVersionViolationsArch(t *testing.T) {
	// Trampolines: 5.5 on x86_64, 6.4 on arm64 (ftrace direct calls).
	fs := []result.Feature{{Kind: result.KindMisc, Name: "trampolines", Status: result.Supported}}
	for _, tc := range []struct {
		name    string
		version Version
		arch    string
		want    []string
	}{
		{"x86_64 6.1", Version{Major: 6, Minor: 1}, "x86_64", nil},
		{"arm64 6.1", Version{Major: 6, Minor: 1}, "arm64", []string{"misc/trampolines: supported on 6.1 arm64 but the table says arm64 got it in 6.4"}},
		{"arm64 6.4", Version{Major: 6, Minor: 4}, "arm64", nil},
		{"arm64 6.12", Version{Major: 6, Minor: 12}, "arm64", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, VersionViolations(tc.version, tc.arch, fs))
		})
	}
}

func TestApplyBpftoolClaims(t *testing.T) {
	fs := []result.Feature{
		{Kind: result.KindHelper, ProgramType: "kprobe", Name: "bpf_skb_store_bytes", Status: result.Unsupported},
		{Kind: result.KindHelper, ProgramType: "kprobe", Name: "bpf_skb_load_bytes", Status: result.Unsupported, Reason: &result.Reason{Kind: result.ReasonProgramType}},
		{Kind: result.KindHelper, ProgramType: "lsm", Name: "bpf_map_lookup_elem", Status: result.Supported},
		{Kind: result.KindHelper, ProgramType: "kprobe", Name: "bpf_map_lookup_elem", Status: result.Supported},
		{Kind: result.KindHelper, ProgramType: "kprobe", Name: "bpf_loop", Status: result.Inconclusive},
		// Seen on debian-6.12 with bpftool 7.1: it skips the helpers
		// that write to the kernel log, and knows none after 6.1's last.
		{Kind: result.KindHelper, ProgramType: "kprobe", Name: "bpf_trace_printk", Status: result.Supported},
		{Kind: result.KindHelper, ProgramType: "socket_filter", Name: "bpf_cgrp_storage_get", Status: result.Supported},
		{Kind: result.KindHelper, ProgramType: "cgroup_sysctl", Name: "bpf_get_retval", Status: result.Supported},
	}
	n := applyClaims(map[string]bool{
		"helper/kprobe/bpf_skb_store_bytes": true, "helper/kprobe/bpf_map_lookup_elem": true, "helper/kprobe/bpf_loop": false,
		"helper/kprobe/bpf_skb_load_bytes": true, "helper/lsm/bpf_map_lookup_elem": false,
		"helper/kprobe/bpf_trace_printk": false, "helper/socket_filter/bpf_cgrp_storage_get": false,
		"helper/cgroup_sysctl/bpf_get_retval": false, "helper/socket_filter/bpf_user_ringbuf_drain": true,
	}, fs)
	assert.Equal(t, 6, n)
	assert.Equal(t, "supported (misread refusal)", fs[1].Bpftool)
	assert.Equal(t, "unsupported (no attach target)", fs[2].Bpftool)
	assert.Equal(t, "unsupported (skipped: writes to the kernel log)", fs[5].Bpftool)
	assert.Equal(t, "unsupported (helper unknown to bpftool)", fs[6].Bpftool)
	assert.Equal(t, "unsupported (attach type or sleepable variant not tried)", fs[7].Bpftool)
	assert.Equal(t, map[string]int{BpftoolOther: 1, BpftoolMisreadRefusal: 1, BpftoolNoAttachTarget: 1,
		BpftoolSkipsDmesg: 1, BpftoolUnknownHelper: 1, BpftoolAttachType: 1}, BpftoolCauses(fs))
	assert.Equal(t, "supported (other)", fs[0].Bpftool, "no reason recorded: cause unknown")
	assert.Empty(t, fs[3].Bpftool)
	assert.Empty(t, fs[4].Bpftool, "inconclusive cells are not compared")
	list := BpftoolCauseList(fs)
	require.Len(t, list, 6)
	for _, c := range list {
		assert.NotEqual(t, c.Cause, c.Text, "every cause has a sentence")
		assert.Equal(t, 1, c.Cells)
	}
}

// TestClassifyOldKernel: what a kernel without BTF, JIT or securityfs (a
// tinyconfig 6.1: many 4.x and embedded kernels look like it) gets, and a
// kernel whose JIT is built but switched off by the sysctl.
func TestClassifyOldKernel(t *testing.T) {
	v61 := Version{Major: 6, Minor: 1}
	tiny := Env{Version: v61, Config: KernelConfig{"CONFIG_BPF_SYSCALL": "y"}}
	jitBuilt := Env{Version: v61, Config: KernelConfig{"CONFIG_BPF_SYSCALL": "y", "CONFIG_BPF_JIT": "y", "CONFIG_DEBUG_INFO_BTF": "y"}}
	jitOffObs := Observation{Kind: result.KindSystem, Name: "bpf_jit_enable", Outcome: OutcomeSupported, Value: "0"}
	for _, tc := range []struct {
		name   string
		env    Env
		obs    []Observation
		config string
		detail string
	}{
		{"ext without the JIT", tiny, []Observation{{Kind: result.KindProgramType, Name: "ext", Outcome: OutcomeNotSupported, Err: "invalid argument"}},
			"CONFIG_BPF_JIT", "needs the JIT (CONFIG_BPF_JIT)"},
		{"ext with the JIT switched off", jitBuilt, []Observation{{Kind: result.KindProgramType, Name: "ext", Outcome: OutcomeNotSupported, Err: "invalid argument"}, jitOffObs},
			"CONFIG_BPF_JIT", "needs the JIT (net.core.bpf_jit_enable is 0)"},
		{"tracing without BTF", tiny, []Observation{{Kind: result.KindProgramType, Name: "tracing", Outcome: OutcomeNotSupported}},
			"CONFIG_DEBUG_INFO_BTF", "needs kernel BTF (CONFIG_DEBUG_INFO_BTF)"},
		{"lockdown without securityfs", tiny, []Observation{{Kind: result.KindSystem, Name: "lockdown", Outcome: OutcomeNotSupported, Err: "no securityfs in this kernel"}},
			"CONFIG_SECURITYFS", "needs securityfs (CONFIG_SECURITYFS)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Classify(tc.env, tc.obs)[0]
			assert.Equal(t, result.Unsupported, f.Status)
			require.NotNil(t, f.Reason)
			assert.Equal(t, result.ReasonConfig, f.Reason.Kind)
			assert.Equal(t, tc.config, f.Reason.Config)
			assert.Equal(t, tc.detail, f.Reason.Detail)
			assert.Empty(t, f.Finding)
		})
	}
	// The JIT on: ext refused for another reason stays a finding.
	f := Classify(jitBuilt, []Observation{{Kind: result.KindProgramType, Name: "ext", Outcome: OutcomeNotSupported, Err: "invalid argument"}})[0]
	assert.Equal(t, result.ReasonUnexplained, f.Reason.Kind)
}
