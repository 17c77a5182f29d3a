package probe

import (
	"github.com/bpfmatrix/bpfmatrix/internal/features"
)

// The feature tables are data in internal/features, which host-side code
// (requirement extraction from users' objects) reads without importing the
// guest's syscall code. These names keep the probes' spelling.

// Spec describes one feature as data (features.Spec).
type Spec = features.Spec

// ArchMin is the first mainline release with a feature on one architecture.
type ArchMin = features.ArchMin

// The tables the probes walk, in probing order.
var (
	ProgramTypes = features.ProgramTypes
	MapTypes     = features.MapTypes
	LinkTypes    = features.LinkTypes
	MiscFeatures = features.MiscFeatures
	SystemState  = features.SystemState
)

// helper is one row of the helper table; helpers[i].ID == i+1.
type helper = features.Helper

var (
	helpers       = features.Helpers
	helperCommits = features.HelperCommits
)

// attachMethod says how an attach type is probed.
type attachMethod int

const (
	// attachByLoad: bpf_prog_load_check_attach() validates
	// expected_attach_type for the program type, so a load decides.
	attachByLoad attachMethod = iota
	// attachByProgAttach: BPF_PROG_ATTACH with an invalid program fd answers
	// EINVAL for attach types the kernel cannot map to a program type and
	// EBADF for known ones (bpf_prog_attach(), kernel/bpf/syscall.c).
	attachByProgAttach
	// attachByLink: a BPF_LINK_CREATE probe (cilium/ebpf's features).
	attachByLink
	// attachByLinkBadTarget: BPF_LINK_CREATE with a loaded program of the
	// right type and an invalid target fd: EINVAL for an attach type the
	// kernel does not map to the program's type, EBADF once it looks up
	// the target.
	attachByLinkBadTarget
)

type attachSpec struct {
	Spec
	method attachMethod
}

// attachMethods says how each attach type of features.AttachTypes is
// probed.
var attachMethods = map[string]attachMethod{
	"cgroup_inet_ingress":            attachByProgAttach,
	"cgroup_inet_egress":             attachByProgAttach,
	"cgroup_inet_sock_create":        attachByLoad,
	"cgroup_sock_ops":                attachByProgAttach,
	"sk_skb_stream_parser":           attachByProgAttach,
	"sk_skb_stream_verdict":          attachByProgAttach,
	"cgroup_device":                  attachByProgAttach,
	"sk_msg_verdict":                 attachByProgAttach,
	"cgroup_inet4_bind":              attachByLoad,
	"cgroup_inet6_bind":              attachByLoad,
	"cgroup_inet4_connect":           attachByLoad,
	"cgroup_inet6_connect":           attachByLoad,
	"cgroup_inet4_post_bind":         attachByLoad,
	"cgroup_inet6_post_bind":         attachByLoad,
	"cgroup_udp4_sendmsg":            attachByLoad,
	"cgroup_udp6_sendmsg":            attachByLoad,
	"lirc_mode2":                     attachByProgAttach,
	"flow_dissector":                 attachByProgAttach,
	"cgroup_sysctl":                  attachByProgAttach,
	"cgroup_udp4_recvmsg":            attachByLoad,
	"cgroup_udp6_recvmsg":            attachByLoad,
	"cgroup_getsockopt":              attachByLoad,
	"cgroup_setsockopt":              attachByLoad,
	"trace_raw_tp":                   attachByLoad,
	"trace_fentry":                   attachByLoad,
	"trace_fexit":                    attachByLoad,
	"modify_return":                  attachByLoad,
	"lsm_mac":                        attachByLoad,
	"trace_iter":                     attachByLoad,
	"cgroup_inet4_getpeername":       attachByLoad,
	"cgroup_inet6_getpeername":       attachByLoad,
	"cgroup_inet4_getsockname":       attachByLoad,
	"cgroup_inet6_getsockname":       attachByLoad,
	"xdp_devmap":                     attachByLoad,
	"cgroup_inet_sock_release":       attachByLoad,
	"xdp_cpumap":                     attachByLoad,
	"sk_lookup":                      attachByLoad,
	"xdp":                            attachByProgAttach,
	"sk_skb_verdict":                 attachByProgAttach,
	"sk_reuseport_select":            attachByLoad,
	"sk_reuseport_select_or_migrate": attachByLoad,
	"perf_event":                     attachByLinkBadTarget,
	"trace_kprobe_multi":             attachByLink,
	"lsm_cgroup":                     attachByProgAttach,
	"netfilter":                      attachByLoad,
	"tcx_ingress":                    attachByProgAttach,
	"tcx_egress":                     attachByProgAttach,
	"trace_uprobe_multi":             attachByLink,
	"cgroup_unix_connect":            attachByLoad,
	"cgroup_unix_sendmsg":            attachByLoad,
	"cgroup_unix_recvmsg":            attachByLoad,
	"cgroup_unix_getpeername":        attachByLoad,
	"cgroup_unix_getsockname":        attachByLoad,
	"netkit_primary":                 attachByProgAttach,
	"netkit_peer":                    attachByProgAttach,
	"trace_kprobe_session":           attachByLink,
}

// attachTypes are features.AttachTypes with their probing method.
var attachTypes = func() []attachSpec {
	out := make([]attachSpec, 0, len(features.AttachTypes))
	for _, s := range features.AttachTypes {
		out = append(out, attachSpec{Spec: s, method: attachMethods[s.Name]})
	}
	return out
}()
