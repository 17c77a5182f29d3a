// bpf_tail_call through a program array from the main program.
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} jmp_table SEC(".maps");

SEC("socket")
int tail_call(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jmp_table, 0);
	return 0;
}
