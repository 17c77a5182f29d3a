// BPF LSM program on the file_open hook.
#include "corpus.h"

SEC("lsm/file_open")
int lsm(__u64 *ctx)
{
	return 0;
}
