// loop.c: programs that use helpers added in 5.17, so Debian 5.10 rejects
// them and Debian 6.1 accepts them:
//   - sum_loop calls bpf_loop (e6f2dd0f8067 "bpf: Add bpf_loop helper"); 5.10
//     already rejects the callback before verifying an instruction ("number
//     of funcs in func_info doesn't match number of subprogs": a callback
//     passed by address is a subprogram only since 5.13);
//   - match_comm calls bpf_strncmp (c5fb19937455 "bpf: Add bpf_strncmp
//     helper"), which 5.10 rejects at the call instruction ("invalid func
//     unknown#182").
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

__u64 total = 0; /* .bss */

static long add_index(__u32 index, void *ctx)
{
	__u64 *sum = ctx;

	*sum += index;
	return 0;
}

SEC("xdp")
int sum_loop(struct xdp_md *ctx)
{
	__u64 sum = 0;

	bpf_loop(16, add_index, &sum, 0);
	total = sum;
	return XDP_PASS;
}

const char target_comm[16] = "bash"; /* .rodata: bpf_strncmp wants a constant string */

SEC("xdp")
int match_comm(struct xdp_md *ctx)
{
	char comm[16] = "sh";

	if (bpf_strncmp(comm, sizeof(comm), target_comm) == 0)
		return XDP_DROP;
	return XDP_PASS;
}
