// BPF_PROG_TYPE_SYSCALL (always sleepable).
#include "corpus.h"

SEC("syscall")
int syscall_prog(void *ctx)
{
	return 0;
}
