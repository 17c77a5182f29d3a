// A real back-edge: a loop the verifier must prove terminates (no unrolling).
#include "corpus.h"

SEC("tc")
int bounded_loop(struct __sk_buff *skb)
{
	__u32 sum = 0;
	__u32 n = skb->len;

#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < 64 && i < n; i++)
		sum += i ^ n;
	return sum & 1;
}
