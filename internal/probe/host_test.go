package probe

import (
	"context"
	"encoding/binary"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// These tests run the real probes against the kernel of the machine running
// them (root on 6.18 here) and assert documented facts.

var host struct {
	once sync.Once
	kr   *result.KernelResult
	err  error
}

func hostResult(t *testing.T) *result.KernelResult {
	t.Helper()
	require.True(t, CheckPrivilege(), "host probe tests need root (CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN)")
	host.once.Do(func() {
		host.kr, host.err = Probe(context.Background(), Options{BpftoolPath: "/usr/sbin/bpftool"})
	})
	require.NoError(t, host.err)
	return host.kr
}

func find(t *testing.T, kr *result.KernelResult, kind result.Kind, progType, name string) result.Feature {
	t.Helper()
	for _, f := range kr.Features {
		if f.Kind == kind && f.Name == name && f.ProgramType == progType {
			return f
		}
	}
	t.Fatalf("feature %s/%s/%s not in result", kind, progType, name)
	return result.Feature{}
}

func TestHostFacts(t *testing.T) {
	kr := hostResult(t)
	v, err := catalog.ParseVersion(kr.Kernel.Release)
	require.NoError(t, err)
	v = v.Mainline()
	for _, tc := range []struct {
		kind     result.Kind
		progType string
		name     string
		min      string // the fact holds from this version on
		status   result.Status
		reason   result.ReasonKind
	}{
		{result.KindMapType, "", "ringbuf", "5.8", result.Supported, ""},
		{result.KindMapType, "", "arena", "6.9", result.Supported, ""},
		{result.KindProgramType, "", "sched_cls", "4.1", result.Supported, ""},
		{result.KindHelper, "kprobe", "bpf_get_current_task_btf", "5.11", result.Supported, ""},
		{result.KindHelper, "kprobe", "bpf_ringbuf_output", "5.8", result.Supported, ""},
		{result.KindHelper, "sched_cls", "bpf_skb_store_bytes", "4.1", result.Supported, ""},
		// bpftool 7.1 claims this; the verifier refuses it (kprobe_prog_func_proto).
		{result.KindHelper, "kprobe", "bpf_skb_store_bytes", "4.1", result.Unsupported, result.ReasonProgramType},
		{result.KindHelper, "socket_filter", "bpf_sys_bpf", "5.14", result.Unsupported, result.ReasonProgramType},
		{result.KindHelper, "syscall", "bpf_sys_bpf", "5.14", result.Supported, ""},
		// Sleepable-only helper, answered through the uprobe.s variant.
		{result.KindHelper, "kprobe", "bpf_copy_from_user", "6.2", result.Supported, ""},
		{result.KindMisc, "", "bounded_loops", "5.3", result.Supported, ""},
		{result.KindMisc, "", "v4_isa_extension", "6.6", result.Supported, ""},
		{result.KindMisc, "", "kernel_btf", "5.4", result.Supported, ""},
	} {
		t.Run(string(tc.kind)+"/"+tc.progType+"/"+tc.name, func(t *testing.T) {
			require.False(t, v.Less(mustVersion(tc.min)), "host kernel %s is older than %s", v, tc.min)
			f := find(t, kr, tc.kind, tc.progType, tc.name)
			assert.Equal(t, tc.status, f.Status, "%+v", f)
			if tc.reason != "" {
				require.NotNil(t, f.Reason)
				assert.Equal(t, tc.reason, f.Reason.Kind)
			}
		})
	}
}

func TestHostInconclusiveAtMostOnePercent(t *testing.T) {
	kr := hostResult(t)
	c := Counts(kr.Features)
	total := len(kr.Features)
	require.Greater(t, total, 6000, "the full helper-by-program-type matrix is probed")
	assert.LessOrEqual(t, c[result.Inconclusive]*100, total, "inconclusive %d of %d", c[result.Inconclusive], total)
	for _, f := range kr.Features {
		if f.Status == result.Unsupported {
			assert.NotNil(t, f.Reason, "%s: unsupported without a reason", f.Key())
		}
		if f.Status == result.Inconclusive {
			assert.NotEmpty(t, f.Error, f.Key())
		}
	}
}

// TestHostVersionClaims: nothing the tables say this kernel should have is
// missing without an explanation, and nothing newer than the kernel loads.
func TestHostVersionClaims(t *testing.T) {
	kr := hostResult(t)
	v, err := catalog.ParseVersion(kr.Kernel.Release)
	require.NoError(t, err)
	v = v.Mainline()
	assert.Empty(t, VersionViolations(v, kr.Kernel.Arch, kr.Features))
}

// TestHostConfigReason: the host's config lacks CONFIG_BPF_LIRC_MODE2; the
// reason comes from the kernel's own config.
func TestHostConfigReason(t *testing.T) {
	kr := hostResult(t)
	require.NotNil(t, kr.Config, "host kernel config (/proc/config.gz) was read")
	require.NotEqual(t, "y", kr.Config["CONFIG_BPF_LIRC_MODE2"])
	f := find(t, kr, result.KindProgramType, "", "lirc_mode2")
	assert.Equal(t, result.Unsupported, f.Status)
	require.NotNil(t, f.Reason)
	assert.Equal(t, result.ReasonConfig, f.Reason.Kind)
	assert.Equal(t, "CONFIG_BPF_LIRC_MODE2", f.Reason.Config)
}

func TestHostBpftoolCrossCheck(t *testing.T) {
	kr := hostResult(t)
	require.NotNil(t, kr.Bpftool)
	require.True(t, kr.Bpftool.Ran, kr.Bpftool.Error)
	assert.Greater(t, kr.Bpftool.Disagreements, 0)
	f := find(t, kr, result.KindHelper, "kprobe", "bpf_skb_store_bytes")
	assert.Equal(t, "supported ("+BpftoolMisreadRefusal+")", f.Bpftool, "bpftool 7.1 claims every helper for every program type")
}

func TestKernelBTFScan(t *testing.T) {
	kb, err := loadKernelBTF("/sys/kernel/btf/vmlinux", kernelEnums, btfNames())
	require.NoError(t, err)
	has, ok := kb.hasEnumValue("bpf_func_id", 130) // ringbuf_output
	assert.True(t, ok)
	assert.True(t, has)
	has, _ = kb.hasEnumValue("bpf_func_id", 212) // __BPF_FUNC_MAX_ID on 6.2+
	assert.False(t, has, "the enum's __MAX sentinel is not a helper")
	assert.NotZero(t, kb.id("bpf_iter_task"))
	assert.NotZero(t, kb.id("struct bpf_iter_task"))
	assert.NotEqual(t, kb.id("bpf_iter_task"), kb.id("struct bpf_iter_task"))
	assert.Contains(t, kb.members["struct tcp_congestion_ops"], "ssthresh")

	_, err = parseKernelBTF([]byte("not btf at all, really not"), nil, nil)
	assert.Error(t, err)
}

// TestKernelBTFUnknownKind gives the scanner the host's BTF with its first
// type turned into a kind no kernel has yet (30): the scan must not fail,
// it must say where it stopped, and enums it did not reach must read as
// unknown (probes then load instead of trusting the enum).
func TestKernelBTFUnknownKind(t *testing.T) {
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	require.NoError(t, err)
	hdrLen, typeOff := binary.LittleEndian.Uint32(raw[4:]), binary.LittleEndian.Uint32(raw[8:])
	first := int(hdrLen + typeOff)
	info := binary.LittleEndian.Uint32(raw[first+4:])
	binary.LittleEndian.PutUint32(raw[first+4:], info&^(0x1f<<24)|30<<24)
	kb, err := parseKernelBTF(raw, kernelEnums, btfNames())
	require.NoError(t, err)
	assert.Contains(t, kb.partial, "unknown BTF kind 30")
	_, ok := kb.hasEnumValue("bpf_map_type", 1)
	assert.False(t, ok, "an enum the scan did not reach is unknown, not empty")
}

// TestHostWithoutBTF runs the probes as on a kernel without
// /sys/kernel/btf/vmlinux: nothing turns inconclusive, the BTF-targeted
// program types are unsupported with a reason.
func TestHostWithoutBTF(t *testing.T) {
	require.True(t, CheckPrivilege())
	kr, err := Probe(context.Background(), Options{BTFPath: "testdata/missing-vmlinux-btf"})
	require.NoError(t, err)
	c := Counts(kr.Features)
	assert.LessOrEqual(t, c[result.Inconclusive]*100, len(kr.Features), "inconclusive %d", c[result.Inconclusive])
	for _, name := range []string{"lsm", "struct_ops"} {
		f := find(t, kr, result.KindProgramType, "", name)
		assert.Equal(t, result.Unsupported, f.Status, name)
		require.NotNil(t, f.Reason, name)
	}
	assert.Equal(t, result.Unsupported, find(t, kr, result.KindMisc, "", "kernel_btf").Status)
	assert.Equal(t, result.Supported, find(t, kr, result.KindMapType, "", "ringbuf").Status)
}
