// freplace: a program extension replacing the global function of another
// loaded program. The target program lives in the same object and is loaded
// first; the extension is the case.
#include "corpus.h"

__noinline int replaceable(int x)
{
	return x + 1;
}

SEC("socket")
int freplace_target(struct __sk_buff *skb)
{
	return replaceable(skb->len) & 1;
}

SEC("freplace/replaceable")
int freplace(int x)
{
	return x + 2;
}
