package features

import "github.com/bpfmatrix/bpfmatrix/internal/result"

// Spec describes one feature as data: what the kernel calls it (bpftool's
// spelling), when mainline introduced it, the commit where known, and the
// kernel config options it needs. The guest's probing functions live in
// internal/probe and are looked up by Kind and Name.
type Spec struct {
	Kind result.Kind
	Name string
	// Value is the feature's number in its kernel enum (Enum), or -1.
	Value int64
	// Enum is the kernel enum that declares the feature (bpf_prog_type,
	// bpf_map_type, bpf_attach_type, bpf_link_type, bpf_func_id), if any.
	Enum string
	// Version is the mainline release that introduced the feature.
	Version string
	Commit  string
	// Config lists options (CONFIG_ prefix included) that must be y or m.
	Config []string
	// ProgramType is the program type an attach type belongs to.
	ProgramType string
	// Arch lists architectures where the feature arrived later than
	// Version (JIT and trampoline work usually lands on x86_64 first).
	Arch []ArchMin
}

// ArchMin is the first mainline release with a feature on one architecture.
type ArchMin struct {
	// Arch is spelled as in the catalog (x86_64, arm64).
	Arch    string
	Version string
	Commit  string
	// Why names what the architecture lacked, for the report.
	Why string
}

func ps(v int64, name, version, commit string, config ...string) Spec {
	return Spec{Kind: result.KindProgramType, Name: name, Value: v, Enum: "bpf_prog_type", Version: version, Commit: commit, Config: config}
}

// ProgramTypes lists enum bpf_prog_type (include/uapi/linux/bpf.h).
var ProgramTypes = []Spec{
	ps(1, "socket_filter", "3.19", "89aa075832b0"),
	ps(2, "kprobe", "4.1", "2541517c32be", "CONFIG_KPROBE_EVENTS"),
	ps(3, "sched_cls", "4.1", "96be4325f443", "CONFIG_NET"),
	ps(4, "sched_act", "4.1", "94caee8c312d", "CONFIG_NET"),
	ps(5, "tracepoint", "4.7", "98b5c2c65c29", "CONFIG_BPF_EVENTS"),
	ps(6, "xdp", "4.8", "6a773a15a1e8", "CONFIG_NET"),
	ps(7, "perf_event", "4.9", "0515e5999a46", "CONFIG_BPF_EVENTS"),
	ps(8, "cgroup_skb", "4.10", "0e33661de493", "CONFIG_CGROUP_BPF"),
	ps(9, "cgroup_sock", "4.10", "", "CONFIG_CGROUP_BPF"),
	ps(10, "lwt_in", "4.10", "3a0af8fd61f9", "CONFIG_LWTUNNEL_BPF"),
	ps(11, "lwt_out", "4.10", "3a0af8fd61f9", "CONFIG_LWTUNNEL_BPF"),
	ps(12, "lwt_xmit", "4.10", "3a0af8fd61f9", "CONFIG_LWTUNNEL_BPF"),
	ps(13, "sock_ops", "4.13", "40304b2a1567", "CONFIG_NET"),
	ps(14, "sk_skb", "4.14", "b005fd189cec", "CONFIG_NET"),
	ps(15, "cgroup_device", "4.15", "ebc614f68736", "CONFIG_CGROUP_BPF"),
	ps(16, "sk_msg", "4.17", "4f738adba30a", "CONFIG_NET"),
	ps(17, "raw_tracepoint", "4.17", "c4f6699dfcb8", "CONFIG_BPF_EVENTS"),
	ps(18, "cgroup_sock_addr", "4.17", "4fbac77d2d09", "CONFIG_CGROUP_BPF"),
	ps(19, "lwt_seg6local", "4.18", "004d4b274e2a", "CONFIG_IPV6_SEG6_BPF"),
	ps(20, "lirc_mode2", "4.18", "f4364dcfc86d", "CONFIG_BPF_LIRC_MODE2"),
	ps(21, "sk_reuseport", "4.19", "2dbb9b9e6df6", "CONFIG_NET"),
	ps(22, "flow_dissector", "4.20", "d58e468b1112", "CONFIG_NET"),
	ps(23, "cgroup_sysctl", "5.2", "7b146cebe30c", "CONFIG_CGROUP_BPF"),
	ps(24, "raw_tracepoint_writable", "5.2", "9df1c28bb752", "CONFIG_BPF_EVENTS"),
	ps(25, "cgroup_sockopt", "5.3", "0d01da6afc54", "CONFIG_CGROUP_BPF"),
	ps(26, "tracing", "5.5", "f1b9509c2fb0", "CONFIG_DEBUG_INFO_BTF"),
	ps(27, "struct_ops", "5.6", "27ae7997a661", "CONFIG_DEBUG_INFO_BTF", "CONFIG_BPF_JIT"),
	// An extension's target must be JITed (bpf_check_attach_target:
	// "Extension programs should be JITed").
	ps(28, "ext", "5.6", "be8704ff07d2", "CONFIG_BPF_JIT"),
	ps(29, "lsm", "5.7", "fc611f47f218", "CONFIG_BPF_LSM", "CONFIG_DEBUG_INFO_BTF"),
	ps(30, "sk_lookup", "5.9", "e9ddbb7707ff", "CONFIG_NET"),
	ps(31, "syscall", "5.14", "79a7f8bdb159"),
	ps(32, "netfilter", "6.4", "fd9c663b9ad6", "CONFIG_NETFILTER_BPF_LINK"),
}

func ms(v int64, name, version, commit string, config ...string) Spec {
	return Spec{Kind: result.KindMapType, Name: name, Value: v, Enum: "bpf_map_type", Version: version, Commit: commit, Config: config}
}

// MapTypes lists enum bpf_map_type.
var MapTypes = []Spec{
	ms(1, "hash", "3.19", "0f8e4bd8a1fc"),
	ms(2, "array", "3.19", "28fbcfa08d8e"),
	ms(3, "prog_array", "4.2", "04fd61ab36ec"),
	ms(4, "perf_event_array", "4.3", "ea317b267e9d", "CONFIG_PERF_EVENTS"),
	ms(5, "percpu_hash", "4.6", "824bd0ce6c7c"),
	ms(6, "percpu_array", "4.6", "a10423b87a7e"),
	ms(7, "stack_trace", "4.6", "d5a3b1f69186", "CONFIG_PERF_EVENTS"),
	ms(8, "cgroup_array", "4.8", "4ed8ec521ed5", "CONFIG_CGROUPS"),
	ms(9, "lru_hash", "4.10", "29ba732acbee"),
	ms(10, "lru_percpu_hash", "4.10", "8f8449384ec3"),
	ms(11, "lpm_trie", "4.11", "b95a5c4db09b"),
	ms(12, "array_of_maps", "4.12", "56f668dfe00d"),
	ms(13, "hash_of_maps", "4.12", "bcc6b1b7ebf8"),
	ms(14, "devmap", "4.14", "546ac1ffb70d", "CONFIG_NET"),
	ms(15, "sockmap", "4.14", "174a79ff9515", "CONFIG_NET"),
	ms(16, "cpumap", "4.15", "6710e1126934", "CONFIG_NET"),
	ms(17, "xskmap", "4.18", "fbfc504a24f5", "CONFIG_XDP_SOCKETS"),
	ms(18, "sockhash", "4.18", "81110384441a", "CONFIG_NET"),
	ms(19, "cgroup_storage", "4.19", "de9cbbaadba5", "CONFIG_CGROUP_BPF"),
	ms(20, "reuseport_sockarray", "4.19", "5dc4c4b7d4e8", "CONFIG_NET"),
	ms(21, "percpu_cgroup_storage", "4.20", "b741f1630346", "CONFIG_CGROUP_BPF"),
	ms(22, "queue", "4.20", "f1a2e44a3aec"),
	ms(23, "stack", "4.20", "f1a2e44a3aec"),
	ms(24, "sk_storage", "5.2", "6ac99e8f23d4", "CONFIG_NET"),
	ms(25, "devmap_hash", "5.4", "6f9d451ab1a3", "CONFIG_NET"),
	ms(26, "struct_ops", "5.6", "85d33df357b6", "CONFIG_DEBUG_INFO_BTF", "CONFIG_BPF_JIT"),
	ms(27, "ringbuf", "5.8", "457f44363a88"),
	ms(28, "inode_storage", "5.10", "8ea636848aca", "CONFIG_BPF_LSM"),
	ms(29, "task_storage", "5.11", "4cf1bc1f1045"),
	ms(30, "bloom_filter", "5.16", "9330986c0300"),
	ms(31, "user_ringbuf", "6.1", "583c1f420173"),
	ms(32, "cgrp_storage", "6.2", "c4bcfb38a95e", "CONFIG_CGROUPS"),
	ms(33, "arena", "6.9", "317460317a02", "CONFIG_MMU", "CONFIG_64BIT"),
}

func as(v int64, name, version, progType string, config ...string) Spec {
	return Spec{Kind: result.KindAttachType, Name: name, Value: v, Enum: "bpf_attach_type", Version: version, Config: config, ProgramType: progType}
}

// AttachTypes lists the members of enum bpf_attach_type that can be probed
// without side effects. struct_ops and trace_uprobe_session are left out
// (the kernel checks them only when a link is created against a live
// object): like any member a kernel declares that this table does not
// know, they are reported from the kernel's BTF (internal/probe, enums.go).
var AttachTypes = []Spec{
	as(0, "cgroup_inet_ingress", "4.10", "cgroup_skb"),
	as(1, "cgroup_inet_egress", "4.10", "cgroup_skb"),
	as(2, "cgroup_inet_sock_create", "4.10", "cgroup_sock"),
	as(3, "cgroup_sock_ops", "4.13", "sock_ops"),
	as(4, "sk_skb_stream_parser", "4.14", "sk_skb"),
	as(5, "sk_skb_stream_verdict", "4.14", "sk_skb"),
	as(6, "cgroup_device", "4.15", "cgroup_device"),
	as(7, "sk_msg_verdict", "4.17", "sk_msg"),
	as(8, "cgroup_inet4_bind", "4.17", "cgroup_sock_addr"),
	as(9, "cgroup_inet6_bind", "4.17", "cgroup_sock_addr"),
	as(10, "cgroup_inet4_connect", "4.17", "cgroup_sock_addr"),
	as(11, "cgroup_inet6_connect", "4.17", "cgroup_sock_addr"),
	as(12, "cgroup_inet4_post_bind", "4.17", "cgroup_sock"),
	as(13, "cgroup_inet6_post_bind", "4.17", "cgroup_sock"),
	as(14, "cgroup_udp4_sendmsg", "4.18", "cgroup_sock_addr"),
	as(15, "cgroup_udp6_sendmsg", "4.18", "cgroup_sock_addr"),
	as(16, "lirc_mode2", "4.18", "lirc_mode2", "CONFIG_BPF_LIRC_MODE2"),
	as(17, "flow_dissector", "4.20", "flow_dissector"),
	as(18, "cgroup_sysctl", "5.2", "cgroup_sysctl"),
	as(19, "cgroup_udp4_recvmsg", "5.2", "cgroup_sock_addr"),
	as(20, "cgroup_udp6_recvmsg", "5.2", "cgroup_sock_addr"),
	as(21, "cgroup_getsockopt", "5.3", "cgroup_sockopt"),
	as(22, "cgroup_setsockopt", "5.3", "cgroup_sockopt"),
	as(23, "trace_raw_tp", "5.5", "tracing"),
	as(24, "trace_fentry", "5.5", "tracing"),
	as(25, "trace_fexit", "5.5", "tracing"),
	as(26, "modify_return", "5.7", "tracing"),
	as(27, "lsm_mac", "5.7", "lsm"),
	as(28, "trace_iter", "5.8", "tracing"),
	as(29, "cgroup_inet4_getpeername", "5.8", "cgroup_sock_addr"),
	as(30, "cgroup_inet6_getpeername", "5.8", "cgroup_sock_addr"),
	as(31, "cgroup_inet4_getsockname", "5.8", "cgroup_sock_addr"),
	as(32, "cgroup_inet6_getsockname", "5.8", "cgroup_sock_addr"),
	// Programs for devmap and cpumap entries: bpf_prog_load_check_attach
	// accepts the expected attach type for XDP programs (fbee97feed9b,
	// 92164774a4a6).
	as(33, "xdp_devmap", "5.8", "xdp"),
	as(34, "cgroup_inet_sock_release", "5.9", "cgroup_sock"),
	as(35, "xdp_cpumap", "5.9", "xdp"),
	as(36, "sk_lookup", "5.9", "sk_lookup"),
	as(37, "xdp", "5.9", "xdp"),
	as(38, "sk_skb_verdict", "5.13", "sk_skb"),
	as(39, "sk_reuseport_select", "5.14", "sk_reuseport"),
	as(40, "sk_reuseport_select_or_migrate", "5.14", "sk_reuseport"),
	as(41, "perf_event", "5.15", "perf_event"),
	as(42, "trace_kprobe_multi", "5.18", "kprobe", "CONFIG_FPROBE"),
	as(43, "lsm_cgroup", "6.0", "lsm"),
	as(45, "netfilter", "6.4", "netfilter"),
	as(46, "tcx_ingress", "6.6", "sched_cls"),
	as(47, "tcx_egress", "6.6", "sched_cls"),
	as(48, "trace_uprobe_multi", "6.6", "kprobe", "CONFIG_UPROBES"),
	as(49, "cgroup_unix_connect", "6.7", "cgroup_sock_addr"),
	as(50, "cgroup_unix_sendmsg", "6.7", "cgroup_sock_addr"),
	as(51, "cgroup_unix_recvmsg", "6.7", "cgroup_sock_addr"),
	as(52, "cgroup_unix_getpeername", "6.7", "cgroup_sock_addr"),
	as(53, "cgroup_unix_getsockname", "6.7", "cgroup_sock_addr"),
	as(54, "netkit_primary", "6.7", "sched_cls", "CONFIG_NETKIT"),
	as(55, "netkit_peer", "6.7", "sched_cls", "CONFIG_NETKIT"),
	as(56, "trace_kprobe_session", "6.10", "kprobe", "CONFIG_FPROBE"),
}

func ls(v int64, name, version, progType string, config ...string) Spec {
	return Spec{Kind: result.KindLinkType, Name: name, Value: v, Enum: "bpf_link_type", Version: version, Config: config, ProgramType: progType}
}

// LinkTypes lists enum bpf_link_type. The enum itself appeared in 5.8
// (f2e10bff16a0); links of type cgroup existed since 5.7 without it.
var LinkTypes = []Spec{
	ls(1, "raw_tracepoint", "5.8", "raw_tracepoint"),
	withArch(ls(2, "tracing", "5.8", "tracing"),
		ArchMin{Arch: "arm64", Version: "6.4", Commit: "2aa6ac03516d", Why: "fentry on kernel functions needs ftrace direct calls"}),
	ls(3, "cgroup", "5.8", "cgroup_skb", "CONFIG_CGROUP_BPF"),
	ls(4, "iter", "5.8", "tracing"),
	// A netns link names a namespace by fd: without CONFIG_NET_NS there is
	// no /proc/self/ns/net and get_net_ns_by_fd refuses every fd (EINVAL).
	ls(5, "netns", "5.8", "flow_dissector", "CONFIG_NET", "CONFIG_NET_NS"),
	ls(6, "xdp", "5.9", "xdp", "CONFIG_NET"),
	ls(7, "perf_event", "5.15", "perf_event", "CONFIG_PERF_EVENTS"),
	ls(8, "kprobe_multi", "5.18", "kprobe", "CONFIG_FPROBE"),
	ls(9, "struct_ops", "6.4", "struct_ops"),
	ls(10, "netfilter", "6.4", "netfilter", "CONFIG_NETFILTER_BPF_LINK"),
	ls(11, "tcx", "6.6", "sched_cls"),
	ls(12, "uprobe_multi", "6.6", "kprobe", "CONFIG_UPROBES"),
	ls(13, "netkit", "6.7", "sched_cls", "CONFIG_NETKIT"),
	ls(14, "sockmap", "6.10", "sk_skb"),
}

func withArch(s Spec, a ...ArchMin) Spec {
	s.Arch = a
	return s
}

func misc(name, version, commit string, config ...string) Spec {
	return Spec{Kind: result.KindMisc, Name: name, Value: -1, Version: version, Commit: commit, Config: config}
}

// MiscFeatures are verifier and syscall capabilities. Names follow bpftool
// where bpftool probes the same thing (large_insn_limit, bounded_loops,
// v2_isa_extension, ...).
var MiscFeatures = []Spec{
	misc("v2_isa_extension", "4.14", "92b31a9af73b"),
	misc("v3_isa_extension", "5.1", "092ed0968bb6"),
	misc("v4_isa_extension", "6.6", "1f9a1ea821ff"),
	misc("large_insn_limit", "5.2", "c04c0d2b968a"),
	misc("bounded_loops", "5.3", "2589726d12a1"),
	misc("bpf_to_bpf_calls", "4.16", "cc8b0b92a169"),
	misc("global_functions", "5.6", "51c39bb1d5d1"),
	misc("prog_test_run", "4.12", "1cf1cae963c2", "CONFIG_NET"),
	misc("kernel_btf", "5.4", "341dfcf8d78e", "CONFIG_DEBUG_INFO_BTF"),
	// The interpreter refuses kfunc calls (fixup_call_args: "calling kernel
	// functions are not allowed in non-JITed programs").
	misc("kfuncs", "5.13", "e6ac2450d6de", "CONFIG_DEBUG_INFO_BTF", "CONFIG_BPF_JIT"),
	// arm64: the BPF trampoline arrived in 6.0 (efc9909fdce0, "bpf, arm64:
	// Add bpf trampoline for arm64"), but attaching one to a kernel
	// function needs ftrace direct calls, which arm64 gained in 6.4
	// (2aa6ac03516d, "arm64: ftrace: Add direct call support"); before
	// that the attach fails with ENOTSUPP (measured: Debian 5.10 and 6.1
	// arm64 reject, 6.12 arm64 attaches).
	withArch(misc("trampolines", "5.5", "fec56f5890d9", "CONFIG_DEBUG_INFO_BTF", "CONFIG_FUNCTION_TRACER"),
		ArchMin{Arch: "arm64", Version: "6.4", Commit: "2aa6ac03516d", Why: "fentry on kernel functions needs ftrace direct calls"}),
	misc("sleepable_programs", "5.10", "1e6c62a88215", "CONFIG_DEBUG_INFO_BTF"),
	misc("spin_locks", "5.1", "d83525ca62cf"),
	misc("mmapable_arrays", "5.5", "fc9702273e2e"),
	misc("map_flag_no_prealloc", "4.6", "6c9059817432"),
	misc("map_flag_rdonly_prog", "5.2", "591fe9888d78"),
	misc("map_flag_inner_map", "5.10", "4a8f87e60f6d"),
	misc("bpf_link", "5.7", "af6eea57437a"),
	misc("bpf_token", "6.9", "35f96de04127"),
}

func sysSpec(name string, config ...string) Spec {
	return Spec{Kind: result.KindSystem, Name: name, Value: -1, Config: config}
}

// SystemState is read from procfs and securityfs, not probed.
var SystemState = []Spec{
	sysSpec("bpf_jit_enable", "CONFIG_BPF_JIT"),
	sysSpec("bpf_jit_harden", "CONFIG_BPF_JIT"),
	sysSpec("bpf_jit_kallsyms", "CONFIG_BPF_JIT"),
	sysSpec("bpf_jit_limit", "CONFIG_BPF_JIT"),
	sysSpec("unprivileged_bpf_disabled", "CONFIG_BPF_SYSCALL"),
	// The mode is read from securityfs (/sys/kernel/security/lockdown).
	sysSpec("lockdown", "CONFIG_SECURITYFS", "CONFIG_SECURITY_LOCKDOWN_LSM"),
}
