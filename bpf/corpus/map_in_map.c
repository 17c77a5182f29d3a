// Array of maps: look up an inner map, then an element in it.
#include "corpus.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} inner_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct inner);
} outer_map SEC(".maps") = {
	.values = { &inner_map },
};

SEC("socket")
int map_in_map(struct __sk_buff *skb)
{
	__u32 key = 0, *v;
	void *in = bpf_map_lookup_elem(&outer_map, &key);

	if (!in)
		return 0;
	v = bpf_map_lookup_elem(in, &key);
	return v ? *v : 0;
}
