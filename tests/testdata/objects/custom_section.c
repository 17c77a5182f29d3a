// custom_section.c: a program in a section no loader knows
// (SEC("my_custom_section")), next to an ordinary one. cilium/ebpf reads the
// first as a program of unspecified type, which no kernel loads (EINVAL
// before the verifier runs); the xdp program beside it keeps its own
// verdict. Before bpfmatrix loaded each program under recover, this object
// crashed the guest agent and every object of that kernel lost its verdict.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("my_custom_section")
int custom_prog(void *ctx)
{
	return 0;
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
