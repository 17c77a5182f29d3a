// bpf_dynptr_from_skb kfunc: packet data through a dynptr.
#include "corpus.h"

extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags, struct bpf_dynptr *ptr) __ksym;

SEC("tc")
int dynptr_skb(struct __sk_buff *skb)
{
	struct bpf_dynptr ptr;
	__u8 b = 0;

	if (bpf_dynptr_from_skb(skb, 0, &ptr))
		return TC_ACT_OK;
	bpf_dynptr_read(&b, sizeof(b), &ptr, 0, 0);
	return b == 1 ? TC_ACT_SHOT : TC_ACT_OK;
}
