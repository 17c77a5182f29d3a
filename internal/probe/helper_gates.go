package probe

// helperGate is a reason, other than the helper's own introduction, why a
// program type is not offered a helper: a config option its func_proto case
// sits under, or the release that opened the helper to the program type.
type helperGate struct {
	// ProgramTypes the gate applies to; nil: every program type.
	ProgramTypes []string
	// Config is an option (CONFIG_ prefix) the helper's case needs.
	Config string
	// Version and Commit: the mainline release that offered the helper to
	// ProgramTypes.
	Version, Commit string
}

// helperGates are read from the kernels' func_proto functions
// (kernel/trace/bpf_trace.c, net/core/filter.c); each names where.
var helperGates = map[string][]helperGate{
	// kprobe_prog_func_proto: #ifdef CONFIG_BPF_KPROBE_OVERRIDE.
	"bpf_override_return": {{ProgramTypes: []string{"kprobe"}, Config: "CONFIG_BPF_KPROBE_OVERRIDE"}},
	// bpf_tracing_func_proto: the legacy probe_read helpers only where
	// user and kernel addresses cannot overlap
	// (#ifdef CONFIG_ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE, which x86 and
	// arm64 select; Debian 6.1 arm64 offers them, measured).
	"bpf_probe_read":     {{Config: "CONFIG_ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE"}},
	"bpf_probe_read_str": {{Config: "CONFIG_ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE"}},
	// sk_filter_func_proto, tc_cls_act_func_proto: #ifdef CONFIG_SOCK_CGROUP_DATA.
	"bpf_skb_cgroup_id":          {{ProgramTypes: []string{"sched_cls", "sched_act", "cgroup_skb"}, Config: "CONFIG_SOCK_CGROUP_DATA"}},
	"bpf_skb_ancestor_cgroup_id": {{ProgramTypes: []string{"sched_cls", "sched_act", "cgroup_skb"}, Config: "CONFIG_SOCK_CGROUP_DATA"}},
	// tc_cls_act_func_proto: #ifdef CONFIG_XFRM.
	"bpf_skb_get_xfrm_state": {{ProgramTypes: []string{"sched_cls", "sched_act"}, Config: "CONFIG_XFRM"}},
	// 68ca5d4eebb8 "bpf: support BPF cookie in raw tracepoint (raw_tp,
	// tp_btf) programs" (6.10).
	"bpf_get_attach_cookie": {{ProgramTypes: []string{"raw_tracepoint", "raw_tracepoint_writable"}, Version: "6.10", Commit: "68ca5d4eebb8"}},
}

// gateFor returns the gate of helper for progType, if any.
func gateFor(helper, progType string) (helperGate, bool) {
	for _, g := range helperGates[helper] {
		if g.ProgramTypes == nil {
			return g, true
		}
		for _, p := range g.ProgramTypes {
			if p == progType {
				return g, true
			}
		}
	}
	return helperGate{}, false
}
