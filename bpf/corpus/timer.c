// bpf_timer in a map value: init, set a callback subprogram, start.
#include "corpus.h"

#define CLOCK_MONOTONIC 1

struct elem {
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct elem);
} timers SEC(".maps");

static int timer_cb(void *map, __u32 *key, struct elem *e)
{
	return 0;
}

SEC("tc")
int timer(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct elem *e = bpf_map_lookup_elem(&timers, &key);

	if (!e)
		return TC_ACT_OK;
	bpf_timer_init(&e->t, &timers, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&e->t, timer_cb);
	bpf_timer_start(&e->t, 1000000, 0);
	return TC_ACT_OK;
}
