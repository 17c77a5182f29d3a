// kconfig.c: __kconfig externs, which the loader fills in from the running
// kernel's own config (/boot/config-$(uname -r) or /proc/config.gz) and
// version before the verifier sees the program. The declarations cilium/ebpf
// reads: LINUX_KERNEL_VERSION as a plain 32-bit integer and bool options
// (a __weak extern for an option a config may lack is libbpf-only:
// cilium/ebpf refuses weak symbols).
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

extern int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern bool CONFIG_BPF_JIT __kconfig;

__u64 seen_version; /* .bss */

SEC("xdp")
int kconfig_gate(struct xdp_md *ctx)
{
	seen_version = LINUX_KERNEL_VERSION;
	if (CONFIG_BPF_SYSCALL && CONFIG_BPF_JIT && LINUX_KERNEL_VERSION >= KERNEL_VERSION(5, 10, 0))
		return XDP_PASS;
	return XDP_DROP;
}
