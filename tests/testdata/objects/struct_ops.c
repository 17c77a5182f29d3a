// struct_ops.c: a TCP congestion control in BPF (a struct_ops map of
// tcp_congestion_ops and the programs it holds), the kind of object whose
// struct_ops type a kernel may register in a module. Only the members used
// are declared: loaders match them by name against the kernel's BTF. In
// .struct_ops.link (attached through a BPF link, 6.4); struct_ops_plain.c
// builds the same in the older plain .struct_ops section, which cilium/ebpf
// refuses and libbpf loads. Each program has a section of its own, as
// libbpf before 1.2 (Debian bookworm's bpftool) requires of struct_ops.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct sock;

struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	char name[16];
};

SEC("struct_ops/bpfmx_ssthresh")
__u32 BPF_PROG(bpfmx_ssthresh, struct sock *sk)
{
	return 10;
}

SEC("struct_ops/bpfmx_cong_avoid")
void BPF_PROG(bpfmx_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC("struct_ops/bpfmx_undo_cwnd")
__u32 BPF_PROG(bpfmx_undo_cwnd, struct sock *sk)
{
	return 10;
}

#ifndef STRUCT_OPS_SEC
#define STRUCT_OPS_SEC ".struct_ops.link"
#endif

SEC(STRUCT_OPS_SEC)
struct tcp_congestion_ops bpfmx_cc = {
	.ssthresh = (void *)bpfmx_ssthresh,
	.cong_avoid = (void *)bpfmx_cong_avoid,
	.undo_cwnd = (void *)bpfmx_undo_cwnd,
	.name = "bpfmx_cc",
};
