// A BPF-to-BPF call: the program calls a static, non-inlined subprogram.
#include "corpus.h"

static __noinline int add_one(int x)
{
	return x + 1;
}

SEC("socket")
int bpf_to_bpf_call(struct __sk_buff *skb)
{
	return add_one(skb->len) & 1;
}
