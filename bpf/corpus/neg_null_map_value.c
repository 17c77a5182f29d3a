// Negative: a hash map lookup result is dereferenced without a NULL check.
// (A hash map: since 6.14 the verifier knows that an array lookup with a
// constant in-range key cannot return NULL.)
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

SEC("socket")
int neg_null_map_value(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&values, &key);

	return *v & 1;
}
