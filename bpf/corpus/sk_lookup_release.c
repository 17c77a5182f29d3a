// Reference tracking: bpf_sk_lookup_tcp acquires a socket, bpf_sk_release releases it.
#include "corpus.h"

SEC("tc")
int sk_lookup_release(struct __sk_buff *skb)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_sock *sk;

	sk = bpf_sk_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (sk)
		bpf_sk_release(sk);
	return TC_ACT_OK;
}
