// bpf_for_each_map_elem with a callback subprogram.
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

static long sum_elem(void *map, __u32 *key, __u64 *val, __u64 *sum)
{
	*sum += *val;
	return 0;
}

SEC("tc")
int for_each_map_elem(struct __sk_buff *skb)
{
	__u64 sum = 0;

	bpf_for_each_map_elem(&values, sum_elem, &sum, 0);
	return sum & 1;
}
