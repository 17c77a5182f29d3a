// bpf_tail_call from a BPF-to-BPF subprogram (mixing both needs JIT support).
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} jmp_table SEC(".maps");

static __noinline int do_tail(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jmp_table, 0);
	return skb->len;
}

SEC("tc")
int tail_call_subprog(struct __sk_buff *skb)
{
	return do_tail(skb) ? TC_ACT_OK : TC_ACT_SHOT;
}
