// A global (non-static) function, verified on its own against its BTF signature.
#include "corpus.h"

__noinline int global_add(int x)
{
	return x + 1;
}

SEC("socket")
int global_func(struct __sk_buff *skb)
{
	return global_add(skb->len) & 1;
}
