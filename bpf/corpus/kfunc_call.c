// Calls to kernel functions (kfuncs) resolved through the kernel's BTF:
// bpf_rcu_read_lock/unlock from a BTF-enabled tracing program.
#include "corpus.h"

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

SEC("tp_btf/sched_process_fork")
int kfunc_call(__u64 *ctx)
{
	bpf_rcu_read_lock();
	bpf_rcu_read_unlock();
	return 0;
}
