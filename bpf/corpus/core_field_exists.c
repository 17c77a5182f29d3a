// CO-RE field existence and type existence relocations against the kernel's BTF.
#include "corpus.h"

struct task_struct___missing {
	int no_such_field_bpfmatrix;
} __attribute__((preserve_access_index));

SEC("kprobe/core_field_exists")
int core_field_exists(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___missing *m = (void *)task;
	int r = 0;

	if (bpf_core_field_exists(task->tgid))
		r |= 1;
	if (bpf_core_field_exists(m->no_such_field_bpfmatrix))
		r |= 2;
	if (bpf_core_type_exists(struct task_struct))
		r |= 4;
	return r;
}
