// complexity.c: two programs that hit the verifier's complexity limits
// rather than a type error, both refused by every kernel that has bounded
// loops (5.3+).
//
// too_large: the loop counter differs on every iteration, so no state is
// ever pruned and the verifier walks all of them until it gives up after a
// million instructions: "BPF program is too large. Processed 1000001 insn"
// (BPF_COMPLEXITY_LIMIT_INSNS). At log level 2 that walk would print every
// instruction with its register state: hundreds of MB, which once ran the
// guest out of memory.
//
// too_many_jumps: a branch on a random value in every iteration pushes one
// pending branch per iteration, and the verifier refuses the 8193rd: "The
// sequence of 8193 jumps is too complex." (BPF_COMPLEXITY_LIMIT_JMP_SEQ).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("xdp")
int too_large(struct xdp_md *ctx)
{
	__u64 sum = bpf_get_prandom_u32();

	for (__u32 i = 0; i < 1000000; i++)
		sum += i ^ (sum >> 3);
	return sum & 1 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int too_many_jumps(struct xdp_md *ctx)
{
	__u64 sum = 0;

	for (__u32 i = 0; i < 100000; i++)
		if (bpf_get_prandom_u32() & 1)
			sum += bpf_ktime_get_ns(); /* a call: no branchless select */
	return sum & 1 ? XDP_PASS : XDP_DROP;
}
