// Direct packet access from an XDP program.
#include "corpus.h"

SEC("xdp")
int xdp_direct_packet_access(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = data;

	if (data + 14 > data_end)
		return XDP_PASS;
	return p[13] == 0 ? XDP_DROP : XDP_PASS;
}
