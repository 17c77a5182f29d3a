// bpf_snprintf: the verifier checks the format string held in a read-only map.
#include "corpus.h"

SEC("tc")
int snprintf_fmt(struct __sk_buff *skb)
{
	static const char fmt[] = "len=%u";
	char out[16];
	__u64 args[1] = { skb->len };

	bpf_snprintf(out, sizeof(out), fmt, args, sizeof(args));
	return out[0] == 'l' ? TC_ACT_OK : TC_ACT_SHOT;
}
