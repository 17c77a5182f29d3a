// A sleepable program (lsm.s on a hook allowed to sleep since the feature
// landed) calling the sleepable-only bpf_copy_from_user helper.
#include "corpus.h"

SEC("lsm.s/bprm_committed_creds")
int sleepable(__u64 *ctx)
{
	char buf[8];

	bpf_copy_from_user(buf, sizeof(buf), (void *)0x1000);
	return 0;
}
