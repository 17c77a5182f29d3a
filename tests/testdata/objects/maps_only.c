// maps_only.c: an object with maps and no programs (a map-definition
// object, as some projects ship). A hash map every kernel creates and an
// arena (BPF_MAP_TYPE_ARENA, 33), which kernels before 6.9 refuse (EINVAL);
// the libbpf-dev headers of Debian bookworm predate it, hence the number.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BPF_MAP_TYPE_ARENA 33
#define __ulong(name, val) enum { ___bpf_concat(__unique_value, __COUNTER__) = val } name

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__ulong(map_extra, 1 << 30);
} arena SEC(".maps");
