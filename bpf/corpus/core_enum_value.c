// CO-RE enum value relocation against the kernel's BTF (enum bpf_map_type).
#include "corpus.h"

enum bpf_map_type___local {
	BPF_MAP_TYPE_RINGBUF___local = 1000,
};

SEC("kprobe/core_enum_value")
int core_enum_value(void *ctx)
{
	if (!bpf_core_enum_value_exists(enum bpf_map_type___local, BPF_MAP_TYPE_RINGBUF___local))
		return 0;
	return bpf_core_enum_value(enum bpf_map_type___local, BPF_MAP_TYPE_RINGBUF___local) == 27;
}
