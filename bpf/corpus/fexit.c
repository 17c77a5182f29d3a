// fexit: arguments and the return value of the traced function.
#include "corpus.h"

int fexit_ok;

SEC("fexit/bpf_fentry_test1")
int fexit(__u64 *ctx)
{
	int a = (int)ctx[0];
	int ret = (int)ctx[1];

	/* fentry/fexit must return 0 (check_return_code): the result is
	 * kept in a global instead. */
	fexit_ok = a + 1 == ret;
	return 0;
}
