// BPF ring buffer: reserve, write, submit (reference-tracked record).
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tc")
int ringbuf(struct __sk_buff *skb)
{
	__u32 *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);

	if (!rec)
		return TC_ACT_OK;
	*rec = skb->len;
	bpf_ringbuf_submit(rec, 0);
	return TC_ACT_OK;
}
