package probe

import (
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/kconfig"
)

// Version is a mainline major.minor kernel version (catalog.Version with
// no patch level: catalog.ParseVersion(release).Mainline()).
type Version = catalog.Version

func mustVersion(s string) Version {
	v, err := catalog.ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// KernelConfig holds a kernel's config options (CONFIG_X -> y, m or a value).
// A nil KernelConfig means the config is unknown.
type KernelConfig = kconfig.Config

// extraConfig are options outside the *BPF* names that decide features.
var extraConfig = []string{
	"CONFIG_DEBUG_INFO_BTF", "CONFIG_DEBUG_INFO_BTF_MODULES", "CONFIG_FPROBE", "CONFIG_UPROBES",
	"CONFIG_KPROBES", "CONFIG_KPROBE_EVENTS", "CONFIG_UPROBE_EVENTS", "CONFIG_FTRACE",
	"CONFIG_FUNCTION_TRACER", "CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS", "CONFIG_FUNCTION_ERROR_INJECTION",
	"CONFIG_PERF_EVENTS", "CONFIG_CGROUPS", "CONFIG_NET", "CONFIG_XDP_SOCKETS", "CONFIG_NETKIT",
	"CONFIG_NET_CLS_ACT", "CONFIG_NET_SCH_INGRESS", "CONFIG_LWTUNNEL", "CONFIG_SECURITY",
	"CONFIG_SECURITY_LOCKDOWN_LSM", "CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY", "CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY", "CONFIG_LOCK_DOWN_KERNEL_FORCE_NONE", "CONFIG_LSM", "CONFIG_MMU", "CONFIG_64BIT", "CONFIG_HAVE_EBPF_JIT",
	"CONFIG_ARCH_WANT_DEFAULT_BPF_JIT", "CONFIG_IKCONFIG_PROC", "CONFIG_NETFILTER", "CONFIG_NF_CONNTRACK",
}

// RelevantConfig keeps the options that matter for BPF: every option whose
// name contains BPF, BTF or XDP, the options named by the feature tables,
// and a few more (tracing, cgroups, lockdown).
func RelevantConfig(cfg KernelConfig) KernelConfig {
	if cfg == nil {
		return nil
	}
	want := map[string]bool{}
	for _, o := range extraConfig {
		want[o] = true
	}
	for _, list := range [][]Spec{ProgramTypes, MapTypes, LinkTypes, MiscFeatures, SystemState} {
		for _, s := range list {
			for _, o := range s.Config {
				want[o] = true
			}
		}
	}
	for _, a := range attachTypes {
		for _, o := range a.Config {
			want[o] = true
		}
	}
	out := KernelConfig{}
	for k, v := range cfg {
		if want[k] || strings.Contains(k, "BPF") || strings.Contains(k, "BTF") || strings.Contains(k, "XDP") {
			out[k] = v
		}
	}
	return out
}
