// Direct packet access from a tc classifier: bounds-checked loads via data/data_end.
#include "corpus.h"

SEC("tc")
int tc_direct_packet_access(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	unsigned char *p = data;

	if (data + 14 > data_end)
		return TC_ACT_OK;
	return p[12] == 0x08 ? TC_ACT_OK : TC_ACT_SHOT;
}
