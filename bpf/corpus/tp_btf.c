// tp_btf: BTF-typed tracepoint arguments, dereferenced directly (no probe_read).
#include "corpus.h"

SEC("tp_btf/sched_process_fork")
int tp_btf(__u64 *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx[1];

	return child->pid == 1;
}
