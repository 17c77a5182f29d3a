// usdt.c: a USDT program built the way libbpf-tools builds them, with
// libbpf's <bpf/usdt.bpf.h> (Debian bookworm's libbpf-dev 1.1). The header
// declares its helpers and maps as weak symbols, which cilium/ebpf cannot
// read ("unsupported binding: STB_WEAK"): bpfmatrix loads this object with
// libbpf. The uapi struct pt_regs stands in for vmlinux.h's.
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

char LICENSE[] SEC("license") = "GPL";

__u64 total; /* .bss */

SEC("usdt")
int BPF_USDT(on_request, long bytes)
{
	__sync_fetch_and_add(&total, bytes);
	return 0;
}
