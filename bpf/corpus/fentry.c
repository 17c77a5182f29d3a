// fentry through a BPF trampoline, arguments typed by the target's BTF.
#include "corpus.h"

SEC("fentry/bpf_fentry_test1")
int fentry(__u64 *ctx)
{
	int a = (int)ctx[0];

	return a == 1;
}
