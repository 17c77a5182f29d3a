// bpf_spin_lock/bpf_spin_unlock around a map value update.
#include "corpus.h"

struct val {
	struct bpf_spin_lock lock;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct val);
} counters SEC(".maps");

SEC("tc")
int spin_lock(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct val *v = bpf_map_lookup_elem(&counters, &key);

	if (!v)
		return TC_ACT_OK;
	bpf_spin_lock(&v->lock);
	v->count++;
	bpf_spin_unlock(&v->lock);
	return TC_ACT_OK;
}
