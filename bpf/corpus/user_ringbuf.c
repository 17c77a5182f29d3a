// User ring buffer drained with a callback receiving a dynptr.
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} input SEC(".maps");

static long handle(struct bpf_dynptr *dynptr, void *ctx)
{
	return 0;
}

SEC("tc")
int user_ringbuf(struct __sk_buff *skb)
{
	bpf_user_ringbuf_drain(&input, handle, NULL, 0);
	return TC_ACT_OK;
}
