// many.c: 100 programs for BenchmarkExtract (needs of a 100-program
// object). Each program calls a few helpers, uses a map and global data,
// loops, and some use atomics and callbacks, so that extraction walks every
// kind of instruction it looks at. Built by the Makefile here with the same
// flags as tests/testdata/objects.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

__u64 hits = 0;
const volatile __u32 limit = 8;

static long step(__u32 index, void *ctx)
{
	__u64 *sum = ctx;

	*sum += index;
	return 0;
}

#define PROG(n)                                                          \
	SEC("xdp")                                                       \
	int prog_##n(struct xdp_md *ctx)                                 \
	{                                                                \
		__u32 key = n;                                           \
		__u64 sum = bpf_ktime_get_ns(), *v;                      \
		for (__u32 i = 0; i < limit && i < 64; i++)              \
			sum += bpf_get_prandom_u32() ^ i;                \
		v = bpf_map_lookup_elem(&counts, &key);                  \
		if (v)                                                   \
			sum ^= __sync_fetch_and_add(v, sum);             \
		else                                                     \
			bpf_map_update_elem(&counts, &key, &sum, BPF_ANY); \
		if (n % 4 == 0)                                          \
			bpf_loop(n, step, &sum, 0);                      \
		if (n % 8 == 0)                                          \
			bpf_ringbuf_output(&events, &sum, sizeof(sum), 0); \
		__sync_fetch_and_add(&hits, 1);                          \
		return sum & 1 ? XDP_PASS : XDP_DROP;                    \
	}

#define TEN(t) PROG(t##0) PROG(t##1) PROG(t##2) PROG(t##3) PROG(t##4) \
	PROG(t##5) PROG(t##6) PROG(t##7) PROG(t##8) PROG(t##9)

PROG(0) PROG(1) PROG(2) PROG(3) PROG(4) PROG(5) PROG(6) PROG(7) PROG(8) PROG(9)
TEN(1) TEN(2) TEN(3) TEN(4) TEN(5) TEN(6) TEN(7) TEN(8) TEN(9)
