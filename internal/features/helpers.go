package features

import "strings"

// helperTable lists every BPF helper in enum bpf_func_id order (ID = line
// number), with the mainline release that introduced it. Versions follow the
// release in which the helper's UAPI enum entry first appeared (see
// include/uapi/linux/bpf.h history and bcc's docs/kernel-versions.md). No
// helper was added after 6.2: new functionality comes as kfuncs since then.
const helperTable = `
map_lookup_elem 3.19
map_update_elem 3.19
map_delete_elem 3.19
probe_read 4.1
ktime_get_ns 4.1
trace_printk 4.1
get_prandom_u32 4.1
get_smp_processor_id 4.1
skb_store_bytes 4.1
l3_csum_replace 4.1
l4_csum_replace 4.1
tail_call 4.2
clone_redirect 4.2
get_current_pid_tgid 4.2
get_current_uid_gid 4.2
get_current_comm 4.2
get_cgroup_classid 4.3
skb_vlan_push 4.3
skb_vlan_pop 4.3
skb_get_tunnel_key 4.3
skb_set_tunnel_key 4.3
perf_event_read 4.3
redirect 4.4
get_route_realm 4.4
perf_event_output 4.4
skb_load_bytes 4.5
get_stackid 4.6
csum_diff 4.6
skb_get_tunnel_opt 4.6
skb_set_tunnel_opt 4.6
skb_change_proto 4.8
skb_change_type 4.8
skb_under_cgroup 4.8
get_hash_recalc 4.8
get_current_task 4.8
probe_write_user 4.8
current_task_under_cgroup 4.9
skb_change_tail 4.9
skb_pull_data 4.9
csum_update 4.9
set_hash_invalid 4.9
get_numa_node_id 4.10
skb_change_head 4.10
xdp_adjust_head 4.10
probe_read_str 4.11
get_socket_cookie 4.12
get_socket_uid 4.12
set_hash 4.13
setsockopt 4.13
skb_adjust_room 4.13
redirect_map 4.14
sk_redirect_map 4.14
sock_map_update 4.14
xdp_adjust_meta 4.15
perf_event_read_value 4.15
perf_prog_read_value 4.15
getsockopt 4.15
override_return 4.16
sock_ops_cb_flags_set 4.16
msg_redirect_map 4.17
msg_apply_bytes 4.17
msg_cork_bytes 4.17
msg_pull_data 4.17
bind 4.17
xdp_adjust_tail 4.18
skb_get_xfrm_state 4.18
get_stack 4.18
skb_load_bytes_relative 4.18
fib_lookup 4.18
sock_hash_update 4.18
msg_redirect_hash 4.18
sk_redirect_hash 4.18
lwt_push_encap 4.18
lwt_seg6_store_bytes 4.18
lwt_seg6_adjust_srh 4.18
lwt_seg6_action 4.18
rc_repeat 4.18
rc_keydown 4.18
skb_cgroup_id 4.18
get_current_cgroup_id 4.18
get_local_storage 4.19
sk_select_reuseport 4.19
skb_ancestor_cgroup_id 4.19
sk_lookup_tcp 4.20
sk_lookup_udp 4.20
sk_release 4.20
map_push_elem 4.20
map_pop_elem 4.20
map_peek_elem 4.20
msg_push_data 4.20
msg_pop_data 5.0
rc_pointer_rel 5.0
spin_lock 5.1
spin_unlock 5.1
sk_fullsock 5.1
tcp_sock 5.1
skb_ecn_set_ce 5.1
get_listener_sock 5.1
skc_lookup_tcp 5.2
tcp_check_syncookie 5.2
sysctl_get_name 5.2
sysctl_get_current_value 5.2
sysctl_get_new_value 5.2
sysctl_set_new_value 5.2
strtol 5.2
strtoul 5.2
sk_storage_get 5.2
sk_storage_delete 5.2
send_signal 5.3
tcp_gen_syncookie 5.3
skb_output 5.5
probe_read_user 5.5
probe_read_kernel 5.5
probe_read_user_str 5.5
probe_read_kernel_str 5.5
tcp_send_ack 5.5
send_signal_thread 5.5
jiffies64 5.5
read_branch_records 5.6
get_ns_current_pid_tgid 5.7
xdp_output 5.6
get_netns_cookie 5.7
get_current_ancestor_cgroup_id 5.7
sk_assign 5.7
ktime_get_boot_ns 5.7
seq_printf 5.7
seq_write 5.7
sk_cgroup_id 5.7
sk_ancestor_cgroup_id 5.7
ringbuf_output 5.8
ringbuf_reserve 5.8
ringbuf_submit 5.8
ringbuf_discard 5.8
ringbuf_query 5.8
csum_level 5.8
skc_to_tcp6_sock 5.9
skc_to_tcp_sock 5.9
skc_to_tcp_timewait_sock 5.9
skc_to_tcp_request_sock 5.9
skc_to_udp6_sock 5.9
get_task_stack 5.9
load_hdr_opt 5.10
store_hdr_opt 5.10
reserve_hdr_opt 5.10
inode_storage_get 5.10
inode_storage_delete 5.10
d_path 5.10
copy_from_user 5.10
snprintf_btf 5.10
seq_printf_btf 5.10
skb_cgroup_classid 5.10
redirect_neigh 5.10
per_cpu_ptr 5.10
this_cpu_ptr 5.10
redirect_peer 5.10
task_storage_get 5.11
task_storage_delete 5.11
get_current_task_btf 5.11
bprm_opts_set 5.11
ktime_get_coarse_ns 5.11
ima_inode_hash 5.11
sock_from_file 5.11
check_mtu 5.12
for_each_map_elem 5.13
snprintf 5.13
sys_bpf 5.14
btf_find_by_name_kind 5.14
sys_close 5.14
timer_init 5.15
timer_set_callback 5.15
timer_start 5.15
timer_cancel 5.15
get_func_ip 5.15
get_attach_cookie 5.15
task_pt_regs 5.15
get_branch_snapshot 5.16
trace_vprintk 5.16
skc_to_unix_sock 5.16
kallsyms_lookup_name 5.16
find_vma 5.17
loop 5.17
strncmp 5.17
get_func_arg 5.17
get_func_ret 5.17
get_func_arg_cnt 5.17
get_retval 5.18
set_retval 5.18
xdp_get_buff_len 5.18
xdp_load_bytes 5.18
xdp_store_bytes 5.18
copy_from_user_task 5.18
skb_set_tstamp 5.18
ima_file_hash 5.18
kptr_xchg 5.19
map_lookup_percpu_elem 5.19
skc_to_mptcp_sock 5.19
dynptr_from_mem 5.19
ringbuf_reserve_dynptr 5.19
ringbuf_submit_dynptr 5.19
ringbuf_discard_dynptr 5.19
dynptr_read 5.19
dynptr_write 5.19
dynptr_data 5.19
tcp_raw_gen_syncookie_ipv4 6.0
tcp_raw_gen_syncookie_ipv6 6.0
tcp_raw_check_syncookie_ipv4 6.0
tcp_raw_check_syncookie_ipv6 6.0
ktime_get_tai_ns 6.1
user_ringbuf_drain 6.1
cgrp_storage_get 6.2
cgrp_storage_delete 6.2
`

// HelperCommits names the introducing commit for helpers where the tests
// and documentation cite one.
var HelperCommits = map[string]string{
	"bpf_ringbuf_output":       "457f44363a88",
	"bpf_get_current_task_btf": "3ca1032ab7ab",
	"bpf_sys_bpf":              "79a7f8bdb159",
	"bpf_sys_close":            "3abea089246f",
	"bpf_ktime_get_coarse_ns":  "d05512618056",
	"bpf_skb_vlan_push":        "4e10df9a60d9",
	"bpf_jiffies64":            "5576b991e9c1",
	"bpf_ktime_get_boot_ns":    "71d19214776e",
	"bpf_redirect_neigh":       "b4ab31414970",
	"bpf_skb_ecn_set_ce":       "f7c917ba11a6",
	"bpf_sk_assign":            "cf7fbe660f2d",
	"bpf_fib_lookup":           "87f5fc7e48dd",
	"bpf_sk_lookup_tcp":        "6acc9b432e67",
	"bpf_get_netns_cookie":     "f318903c0bf4",
	"bpf_get_branch_snapshot":  "856c02dbce4f",
	"bpf_skb_set_tstamp":       "9bb984f28d5b",
	"bpf_skc_to_udp6_sock":     "0d4fad3e57df",
	"bpf_cgrp_storage_delete":  "c4bcfb38a95e",
	"bpf_cgrp_storage_get":     "c4bcfb38a95e",
	// Cited by tests/testdata/objects/loop.c.
	"bpf_loop":    "e6f2dd0f8067",
	"bpf_strncmp": "c5fb19937455",
}

// Helper is one row of helperTable.
type Helper struct {
	ID      int32
	Name    string // bpftool spelling: bpf_ringbuf_output
	Version string
}

func parseHelperTable() []Helper {
	var out []Helper
	for _, line := range strings.Split(strings.TrimSpace(helperTable), "\n") {
		name, version, _ := strings.Cut(line, " ")
		out = append(out, Helper{ID: int32(len(out) + 1), Name: "bpf_" + name, Version: version})
	}
	return out
}

// Helpers is helperTable parsed; Helpers[i].ID == i+1.
var Helpers = parseHelperTable()
