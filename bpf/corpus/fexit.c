// fexit: arguments and the return value of the traced function.
#include "corpus.h"

SEC("fexit/bpf_fentry_test1")
int fexit(__u64 *ctx)
{
	int a = (int)ctx[0];
	int ret = (int)ctx[1];

	return a + 1 == ret;
}
