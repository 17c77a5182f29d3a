// Package probe finds out what the running kernel's BPF subsystem can do,
// by loading programs and creating maps, and explains every "no".
//
// Features are data in internal/features (named here in tables.go):
// bpftool's name, the mainline version and commit that introduced the
// feature, and the config options it needs. A run has two halves:
//
//   - Observe loads probes and returns raw Observations (supported, rejected,
//     not declared in the kernel's BTF enum, helper not offered to the program
//     type, privilege, error). It is the only part that touches the kernel.
//   - Classify is a pure function from Observations, the kernel version and
//     its config to result.Features: every Unsupported feature carries a
//     Reason (version with commit, config option, privilege, program type),
//     and one that the version and config say should exist gets
//     ReasonUnexplained and a Finding. Inconclusive features carry the error
//     and are never counted as unsupported.
//
// Probe runs both and returns a result.KernelResult; CrossCheck compares it
// with `bpftool feature probe -j` (our loads are the ground truth).
//
// What is probed how: a program type loads with the expected attach type
// libbpf sets for its section (cgroup/dev, cgroup/sysctl, ...), and with
// more attach types where the kernel offers helpers by attach type
// (cgroup/setsockopt, lsm_cgroup): a helper is supported when any of them
// gets it, and the detail names the one that did. Extension programs
// replace an XDP function that changes packet data, so the verifier, not
// the attach check, answers for packet-changing helpers. A link type is
// supported when a link of that type is created the way a user creates one
// (or the link type's own target lookup answers), never because the enum
// declares it. Members of the five BPF enums that the tables do not know
// are reported from the kernel's BTF, with a generic probe's answer or as
// result.Present with "present, not probed" (Value), never as supported; a
// BTF kind the scanner does not know ends the scan with what it read.
//
// Speed: enum members the kernel's BTF does not declare are unsupported
// without a load; the helper matrix is one raw BPF_PROG_LOAD per (program
// type, helper) spread over all CPUs; program types that need an attach
// target (tracing, LSM, iterators, struct_ops, extensions) get one from the
// kernel's BTF, and helpers that may sleep are retried with a sleepable
// variant (fentry.s, lsm.s, uprobe.s).
//
// A helper is "supported" only on the verifier's word: the load succeeded,
// or failed with EACCES/EINVAL after the verifier walked the call (its
// "processed N insns" is not 0) with a complaint that is not one of its
// messages about the helper's availability ("invalid func", "unknown func",
// "program of this type cannot use helper", "non-sleepable"). Those messages
// are looked for anywhere in the log, and the complaint is read from the
// log's body, cut at the statistics block's first line: no verdict depends
// on the first or last line of a log having a known shape (7.3 adds a
// statistics line and a structured "Verification failed:" explanation). A
// load the verifier abandoned (EAGAIN when a signal was pending, which the
// Go runtime's preemption signal causes under TCG), refused before its
// first instruction (an extension program its target rejects), or answered
// with nothing but its statistics is inconclusive; loads that take
// milliseconds (an attach target resolved through kallsyms) are issued as
// ordinary syscalls so that the runtime does not signal them.
//
// Kfuncs, BTF features and struct_ops types (dimensions.go) read the whole
// BTF once (btfIndex). The kernel's kfunc list is the FUNCs its BTF tags
// bpf_kfunc (kernels from 6.10), else the members of the kfunc BTF_ID sets
// that /proc/kallsyms names (6.0-6.9), else the table's kfuncs; each is
// loaded as a call from one program type per kfunc hook (kfuncProgTypes),
// with the type's first loadable variant and, when the verifier asks for
// one, its sleepable variant. A kfunc no probed type may call, or whose
// call no probe program can satisfy (an arena pointer argument), is
// present, never supported. BTF features load libbpf's FEAT_BTF_* blobs.
// A struct_ops type is a struct NAME with a bpf_struct_ops_NAME value type
// in the BTF, supported when a program for one of its members loads; each
// member gets a sleepable load.
//
// The caller must be privileged (CheckPrivilege) and, on kernels before
// 5.11, should raise RLIMIT_MEMLOCK first (internal/rlimit).
package probe
