// user_values.c: what libbpf-tools' user space sets before load, left as the
// object ships: a map without max_entries (bpf_map__set_max_entries), an
// fentry program on a placeholder function (dummy_file_open, replaced with
// bpf_program__set_attach_target), and a .rodata constant (targ_pid) a
// command-line option fills in. Without the values the kernel refuses the map
// and cannot find the attach target; with them everything loads.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 targ_pid = 0;
const volatile char targ_comm[16] = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("fentry/dummy_file_open")
int file_open_fentry(void *ctx)
{
	return 0;
}

SEC("kprobe/do_unlinkat")
int count_unlink(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *n;

	if (targ_pid && pid != targ_pid)
		return 0;
	n = bpf_map_lookup_elem(&counts, &pid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&counts, &pid, &one, BPF_ANY);
	return 0;
}
