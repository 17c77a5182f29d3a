// fentry through a BPF trampoline, arguments typed by the target's BTF.
#include "corpus.h"

int fentry_seen;

SEC("fentry/bpf_fentry_test1")
int fentry(__u64 *ctx)
{
	int a = (int)ctx[0];

	/* fentry/fexit must return 0 (check_return_code): the argument is
	 * used through a global instead. */
	fentry_seen = a == 1;
	return 0;
}
