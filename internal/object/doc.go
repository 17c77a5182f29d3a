// Package object handles users' own BPF ELF objects for `bpfmatrix check`
// and `bpfmatrix repro`, on both sides of the VM boundary.
//
// On the host, [Open] rejects what can be rejected without a kernel, so that
// no VM is booted for bad input: a missing file, a file that is not ELF, an
// ELF for another machine (/bin/true), a truncated object, a big-endian
// object (clang -target bpfeb) for little-endian kernels, an object with
// neither programs nor maps (one with maps only is valid: its maps are
// checked); [Object.Select] rejects a program name the object does not
// have. Every such error wraps [ErrInvalid] and reads as one line, and no
// input makes Open panic (FuzzOpen).
//
// An object cilium/ebpf cannot read but libbpf can (usdt.bpf.h's weak
// symbols: [LibbpfOnly]; a typedef'd LINUX_KERNEL_VERSION:
// [CiliumCannotLoad]) is valid: Open says why in CiliumUnreadable, and
// takes its program and map names from the ELF symbols.
//
// [Values] are what user space sets before load (.rodata/.data/.bss
// variables, maps' max_entries, attach targets), parsed from --set,
// --attach-target and --values, checked and encoded against the objects on
// the host ([Values.Resolve]; every error wraps [ErrBadValue] and is one
// line) and applied in the guest ([ObjectValues.Apply]).
//
// In the guest, [Load] loads every map and every program of an object with
// internal/verifier (each program in its own collection, so one rejection
// hides nothing) and returns an [ObjectReport]. An object cilium/ebpf
// cannot read, or every object with [LoaderLibbpf], is loaded with libbpf
// through bpftool instead (one program per "bpftool -d prog loadall", the
// others hidden from libbpf in a copy of the object); every outcome names
// its loader. A program or map that cannot be loaded until user space sets
// something (a map with max_entries 0, an fentry/fexit/fmod_ret or tp_btf
// target that is neither in the object nor in the kernel's BTF; with
// libbpf, its "failed to find kernel BTF type ID" for the target) is not
// loaded: its NeedsValue says what to give, and it is no rejection. __kconfig
// externs resolve from /boot/config-$(uname -r), which the guest provides. CO-RE relocations are
// resolved by cilium/ebpf against the running kernel's BTF. Maps pinned with
// LIBBPF_PIN_BY_NAME are loaded unpinned: pinning does not change what the
// verifier says, and each program is loaded on its own, so pinned maps would
// be shared between loads and outlive them (the report notes every stripped
// pin). Programs that need an attach target get one where it exists: fentry,
// fexit, tp_btf and LSM targets come from the kernel's BTF, an freplace
// target, and an fentry/fexit target that is a function of the object
// itself, is the object's own program holding that function (loaded first);
// one that cannot be loaded standalone is Inconclusive with the reason,
// never counted as rejected. Load never panics: a program whose section
// names no program type, or a loader crash, is that program's
// [ProgramOutcome.Error] (a crash with its stack in Log); a crash outside any
// program is the object's Error and Stack. The other programs, maps and
// objects keep their verdicts.
//
// [Annotate] is pure: it interleaves a level-2 verifier log with the source
// lines from the object's BTF line info (cilium/ebpf keeps them on the
// instructions) and marks the failing instruction, the last instruction
// index the verifier reported before its error.
package object
