// Task local storage keyed by a BTF task pointer.
#include "corpus.h"

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} store SEC(".maps");

SEC("tp_btf/sched_process_fork")
int task_storage(__u64 *ctx)
{
	struct task_struct *child = (struct task_struct *)ctx[1];
	__u64 *v = bpf_task_storage_get(&store, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (v)
		*v += 1;
	return 0;
}
