/* Shared prelude for the verifier corpus: UAPI types, libbpf's helper
 * declarations, and the few kernel types the cases touch. Kernel types are
 * declared with preserve_access_index so that field offsets are CO-RE
 * relocated against the running kernel's BTF at load time. */
#ifndef BPFMATRIX_CORPUS_H
#define BPFMATRIX_CORPUS_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __noinline __attribute__((noinline))
#define __kptr __attribute__((btf_type_tag("kptr")))

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

char LICENSE[] SEC("license") = "GPL";

#endif
