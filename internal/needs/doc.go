// Package needs works out, on the host and without a kernel, what each
// program of a BPF object needs from one, and which kernels lack it.
//
// [Extract] reads a parsed object (cilium/ebpf's CollectionSpec, as
// internal/object opens it; for an object built for libbpf that
// cilium/ebpf refuses, such as usdt.bpf.h's with weak symbols, the relaxed
// reading Object.AnalysisSpec returns) and lists per program: program and attach type,
// helpers (by ID), kfuncs (by name), the types and flags of the maps it
// uses, instruction-set features (v2 jumps, v3 32-bit jumps, v4
// instructions, atomics beyond add, may_goto, backward jumps), BPF-to-BPF
// calls, global functions, callbacks, global data, ksyms, CO-RE relocation
// kinds and the BTF kinds the object carries. Each [Requirement] has the
// mainline version, commit and config options from internal/features (the
// probes' own table; there is no second one) and the source line of its
// first use from the object's BTF line info. Requirements that cannot
// decide a load are Advisory: BTF kinds (cilium/ebpf rewrites what a kernel
// lacks), kfunc and CO-RE names (no per-name versions in the table),
// attach types of program types whose load ignores expected_attach_type,
// kfunc calls in a program that tests __weak kfuncs with bpf_ksym_exists,
// and helper or kfunc calls in the arm of a branch the verifier never walks
// on a kernel lacking them (a CO-RE existence check, or a .rodata constant
// at its default).
// Extract never panics on any input (FuzzExtract).
//
// [Explain] names the first requirement a kernel lacks: the newest of the
// missing ones, decided by the kernel's probe results where a matrix has
// them and by its version and config otherwise. "Nothing missing" is not a
// promise of acceptance: a missing NULL check is no feature. A prediction
// that a real load contradicts is a bug: TestCorpusPredictions holds them
// to the verifier corpus's loads in a published matrix, and
// tests/TestPredictionsMatchRealLoads to `bpfmatrix check` on the same
// kernels. [ExtractMaps] does the same for every map of an object, and
// [Explainer] is the one-object entry point for check and repro.
package needs
