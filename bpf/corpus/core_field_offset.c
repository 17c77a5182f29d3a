// CO-RE field offset relocation (task_struct->pid) resolved against the kernel's BTF.
#include "corpus.h"

SEC("kprobe/core_field_offset")
int core_field_offset(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	int pid = 0;

	bpf_probe_read(&pid, sizeof(pid), &task->pid);
	return pid == 1;
}
