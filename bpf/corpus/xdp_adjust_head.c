// bpf_xdp_adjust_head followed by direct packet access (pointers are invalidated and re-derived).
#include "corpus.h"

SEC("xdp")
int xdp_adjust_head(struct xdp_md *ctx)
{
	void *data, *data_end;

	if (bpf_xdp_adjust_head(ctx, -4))
		return XDP_PASS;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + 4 > data_end)
		return XDP_DROP;
	*(__u32 *)data = 0;
	return XDP_PASS;
}
