// Global variables in .data/.bss/.rodata: direct map value access via BPF_PSEUDO_MAP_VALUE.
#include "corpus.h"

__u64 packets = 0;
__u64 bytes = 7;
const volatile __u32 divisor = 2;

SEC("tc")
int global_data(struct __sk_buff *skb)
{
	packets++;
	bytes += skb->len / divisor;
	return TC_ACT_OK;
}
