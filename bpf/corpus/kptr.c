// A referenced kptr stored in a map value with bpf_kptr_xchg, the task
// reference coming from the bpf_task_acquire kfunc.
#include "corpus.h"

struct val {
	struct task_struct __kptr *task;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct val);
} tasks SEC(".maps");

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

SEC("tp_btf/sched_process_fork")
int kptr(__u64 *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx[1];
	struct task_struct *t, *old;
	__u32 key = 0;
	struct val *v = bpf_map_lookup_elem(&tasks, &key);

	if (!v)
		return 0;
	t = bpf_task_acquire(child);
	if (!t)
		return 0;
	old = bpf_kptr_xchg(&v->task, t);
	if (old)
		bpf_task_release(old);
	return 0;
}
