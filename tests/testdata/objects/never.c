// never.c: a program no kernel accepts: the map value is used without the
// NULL check the verifier insists on ("R0 invalid mem access
// 'map_value_or_null'"), next to one that does the check and is accepted.
// A hash map, not an array: since 6.15 a lookup in an array with a constant
// in-bounds key is known not to return NULL.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("xdp")
int count_unchecked(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&hits, &key);

	*value += 1;
	return XDP_PASS;
}

SEC("xdp")
int count_checked(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&hits, &key);

	if (value)
		*value += 1;
	return XDP_PASS;
}
