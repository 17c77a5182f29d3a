// module_kfunc.c: an XDP program that looks up a connection with the
// conntrack kfuncs (bpf_xdp_ct_lookup, bpf_ct_release; 5.18, b4c2b9593a1c),
// which the nf_conntrack module defines when it is built as a module, as in
// Debian's cloud kernels. A kernel without that module loaded refuses the
// program before the verifier sees it: `bpfmatrix check` says "needs module
// nf_conntrack", not REJECTED. plain_pass uses nothing from a module.
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

// net/netfilter/nf_conntrack_bpf.c (6.1; NF_BPF_CT_OPTS_SZ is 12).
struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

struct nf_conn;

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *xdp_ctx, struct bpf_sock_tuple *bpf_tuple,
					 __u32 len_tuple, struct bpf_ct_opts *opts, __u32 len_opts) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;

SEC("xdp")
int ct_lookup(struct xdp_md *ctx)
{
	struct bpf_ct_opts opts = { .netns_id = -1, .l4proto = IPPROTO_TCP };
	struct bpf_sock_tuple tup = {};
	struct nf_conn *ct;

	ct = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &opts, sizeof(opts));
	if (!ct)
		return XDP_DROP;
	bpf_ct_release(ct);
	return XDP_PASS;
}

SEC("xdp")
int plain_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
