// BPF_ATOMIC | BPF_FETCH add: the old value is used, so clang emits atomic_fetch_add.
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("tc")
int atomic_fetch_add(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (!v)
		return TC_ACT_OK;
	return __sync_fetch_and_add(v, 1) & 1;
}
