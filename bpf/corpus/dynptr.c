// Dynptrs: a ring buffer record reserved as a dynptr, written, submitted.
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tc")
int dynptr(struct __sk_buff *skb)
{
	struct bpf_dynptr ptr;
	__u32 v = skb->len;

	if (bpf_ringbuf_reserve_dynptr(&events, sizeof(v), 0, &ptr)) {
		bpf_ringbuf_discard_dynptr(&ptr, 0);
		return TC_ACT_OK;
	}
	bpf_dynptr_write(&ptr, 0, &v, sizeof(v), 0);
	bpf_ringbuf_submit_dynptr(&ptr, 0);
	return TC_ACT_OK;
}
