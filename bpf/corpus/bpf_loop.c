// bpf_loop helper with a callback subprogram.
#include "corpus.h"

static long step(__u32 i, __u64 *sum)
{
	*sum += i;
	return 0;
}

SEC("tc")
int loop_helper(struct __sk_buff *skb)
{
	__u64 sum = 0;

	bpf_loop(100, step, &sum, 0);
	return sum & 1;
}
