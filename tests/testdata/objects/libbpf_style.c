// libbpf_style.c: an object as people build them with libbpf: CO-RE reads
// (relocated against the kernel's BTF), a map pinned by name, .rodata and
// .bss globals, several programs, and programs that need an attach target:
// fentry (a kernel function, found in the kernel's BTF), freplace with its
// target program in this object, and freplace whose target is elsewhere.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

/* Only the fields used: CO-RE finds their offsets in the kernel's BTF. */
struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

struct filename;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} unlinks SEC(".maps");

const volatile __u32 target_tgid = 0; /* .rodata, set by a loader */
__u64 events_seen = 0;                /* .bss */

SEC("kprobe/do_unlinkat")
int kprobe_unlink(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	__u64 one = 1, *count;

	if (target_tgid && tgid != target_tgid)
		return 0;
	__sync_fetch_and_add(&events_seen, 1);
	count = bpf_map_lookup_elem(&unlinks, &ppid);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&unlinks, &ppid, &one, BPF_ANY);
	return 0;
}

SEC("fentry/do_unlinkat")
int BPF_PROG(fentry_unlink, int dfd, struct filename *name)
{
	__sync_fetch_and_add(&events_seen, 1);
	return 0;
}

__attribute__((noinline)) int classify(struct xdp_md *ctx)
{
	if (!ctx)
		return XDP_ABORTED;
	return XDP_PASS;
}

SEC("xdp")
int xdp_entry(struct xdp_md *ctx)
{
	return classify(ctx);
}

SEC("freplace/classify")
int classify_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("freplace/handle_packet")
int replace_elsewhere(struct xdp_md *ctx)
{
	return XDP_PASS;
}
