// Negative: a socket reference from bpf_sk_lookup_tcp is never released.
#include "corpus.h"

SEC("tc")
int neg_ref_leak(struct __sk_buff *skb)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_sock *sk;

	sk = bpf_sk_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (sk)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}
