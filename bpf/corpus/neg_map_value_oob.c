// Negative: reads 8 bytes past the end of an 8-byte map value.
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

SEC("socket")
int neg_map_value_oob(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&values, &key);

	if (!v)
		return 0;
	return *(volatile __u64 *)(v + 1) & 1;
}
