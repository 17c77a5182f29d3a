// BPF arena: a sparse memory region shared with user space, pages allocated
// and freed with the arena kfuncs from a (sleepable) syscall program.
#include "corpus.h"

#define BPF_MAP_TYPE_ARENA 33
#define __ulong(name, val) enum { ___bpf_concat(__unique_value, __COUNTER__) = val } name

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	/* user_vm_start: page-aligned, and the range may not cross a 4 GiB boundary. */
	__ulong(map_extra, 1 << 30);
} arena_map SEC(".maps");

extern void *bpf_arena_alloc_pages(void *map, void *addr, __u32 page_cnt, int node_id, __u64 flags) __ksym;
extern void bpf_arena_free_pages(void *map, void *ptr, __u32 page_cnt) __ksym;

SEC("syscall")
int arena(void *ctx)
{
	void *p = bpf_arena_alloc_pages(&arena_map, NULL, 1, -1, 0);

	if (p)
		bpf_arena_free_pages(&arena_map, p, 1);
	return 0;
}
