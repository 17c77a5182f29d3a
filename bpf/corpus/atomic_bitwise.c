// BPF_ATOMIC fetch-and/or/xor.
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("tc")
int atomic_bitwise(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);
	__u64 r;

	if (!v)
		return TC_ACT_OK;
	r = __sync_fetch_and_or(v, 1);
	r ^= __sync_fetch_and_and(v, 3);
	r ^= __sync_fetch_and_xor(v, 2);
	return r & 1;
}
