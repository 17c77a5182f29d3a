// same_object.c: programs whose attach target is another program of the same
// object. User space loads the target first and sets it
// (bpf_program__set_attach_target), so a loader that looks for
// fentry/handle_packet in the kernel's BTF answers "not supported": an
// fentry on a global function of an XDP program, an fexit on the XDP
// program itself, and an freplace of the global function.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

__noinline int handle_packet(struct xdp_md *ctx)
{
	if (!ctx)
		return XDP_ABORTED;
	return ctx->ingress_ifindex == 1 ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_main(struct xdp_md *ctx)
{
	return handle_packet(ctx);
}

__u64 calls; /* .bss */

SEC("fentry/handle_packet")
int trace_handle_packet(void *ctx)
{
	__sync_fetch_and_add(&calls, 1);
	return 0;
}

SEC("fexit/xdp_main")
int trace_xdp_main(void *ctx)
{
	return 0;
}

SEC("freplace/handle_packet")
int replace_handle_packet(struct xdp_md *ctx)
{
	return XDP_PASS;
}
