// Values read from a frozen read-only map are known constants: the verifier
// prunes the dead branch, which would be rejected if it were explored.
#include "corpus.h"

const volatile __u32 enable_bogus = 0;

SEC("tc")
int rodata_const_prune(struct __sk_buff *skb)
{
	if (enable_bogus)
		return *(volatile int *)(long)skb->len;
	return TC_ACT_OK;
}
