// Package check checks users' BPF objects against kernels: the
// orchestration behind `bpfmatrix check` and `bpfmatrix repro`, usable from
// Go without the CLI.
//
// [Open] reads the objects on the host (internal/object): an unreadable
// file is an [Input] with its error (a row of its own), and only when no
// object can be read is it an error, wrapping [ErrNoObject]. [Load] boots
// each kernel once, up to Options.Parallel at a time, and loads every
// object in it with the agent (`bpfmatrix-agent load --json`); a kernel that
// cannot be fetched or booted keeps its place with its error and never
// affects the others. [Check] is Load plus [BuildReport]: programs and maps
// as rows, kernels as columns, one [Cell] each. [WriteTable] renders the
// report for people, [WriteLogs] keeps every rejected program's whole
// verifier log, [Repro] loads one object in one kernel at log level 2 and
// writes an artifact directory that reruns the same boot.
//
// What the guest gets: the objects, the kernel's own config at
// /boot/config (PID 1 links /boot/config-$(uname -r) to it, where libbpf
// and cilium/ebpf resolve __kconfig externs), the values user space would
// set before load (Options.Values, resolved per object on the host: bad
// input never boots anything), and bpftool with its libraries when an
// object is loaded with libbpf (Options.Loader, or an object cilium/ebpf
// cannot read: object.Object.CiliumUnreadable).
//
// Cell statuses, and what they mean for the exit status of `check`
// ([Report.Failed]):
//
//   - accepted: the kernel loaded it (a map: created).
//   - rejected: the kernel said no (verifier, map creation). Fails.
//   - needs_value: user space sets something first (a map's max_entries of
//     0, a placeholder attach target, or one this kernel's BTF lacks, which
//     a tool's user space replaces by other programs); give it with
//     Values. Does not fail.
//   - needs_module: the kernel refused it for want of a kernel module the
//     guest does not load: a kfunc the module defines (bpf_xdp_ct_lookup in
//     nf_conntrack) or a struct_ops type it registers, by the kernel's
//     module index (fetch.ModuleIndex, read only when an object calls
//     kfuncs or implements struct_ops). Cell.Module names it; the kernel's
//     message stays in the summary. Does not fail. The module is not loaded
//     to get the real verdict: that needs the module and its dependencies
//     in the initramfs (xz-compressed on 6.12) and a loader in the guest.
//   - not_loaded: the question could not be asked (an freplace program
//     without a target in its object). Does not fail.
//   - error: no verdict (the kernel failed, the object is unreadable, the
//     loader crashed). Fails.
//
// Every cell names its loader ("cilium" or "libbpf"), and has an
// Explanation field this package leaves empty, for a host-side requirement
// extractor to fill in (what the kernel lacks that the object needs).
//
// With Options.Run the agent also attaches every program the way its
// section name says, runs generic triggers (getpid, an open, an unlink, a
// UDP datagram on lo, reading iterators) and reports the kernel's run count
// for it (internal/observe RunObject): Cell.Ran says "ran N times (how)",
// "attached (how), did not run" or "not attached: why", and WriteLogs
// writes each program's maps as they were afterwards (Cell.MapsFile).
// Whether a program ran never changes Report.Failed.
//
// This package does not log; Options.Logger receives progress records.
package check
