// kconfig_typedef.c: LINUX_KERNEL_VERSION declared the way libbpf-tools
// declares it, through a typedef (extern __u32 ... __kconfig). libbpf
// accepts it; cilium/ebpf refuses to load it ("variable LINUX_KERNEL_VERSION
// must be a 32 bits integer, got Typedef:\"__u32\""), so bpfmatrix loads
// this object with libbpf.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern __u32 LINUX_KERNEL_VERSION __kconfig;

SEC("xdp")
int version_gate(struct xdp_md *ctx)
{
	return LINUX_KERNEL_VERSION >= KERNEL_VERSION(5, 10, 0) ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int version_unchecked(struct xdp_md *ctx)
{
	/* Rejected everywhere: reads past the packet without a bounds check. */
	__u8 *data = (void *)(long)ctx->data;
	return data[LINUX_KERNEL_VERSION & 0xff] ? XDP_PASS : XDP_DROP;
}
