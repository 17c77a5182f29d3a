// Package verifier loads BPF programs into the running kernel and reports
// what the verifier said: accepted or rejected, errno, the summary line,
// instructions processed, peak states, verification time and the log.
//
// It serves three callers:
//
//   - the verifier corpus (bpf/): RunCorpus loads every case and Judge
//     compares each outcome with the case's expectation (accepted from the
//     introducing version on, given its config, and given the JIT for
//     cases the manifest marks jit: rejected by an interpreter-only kernel,
//     one without CONFIG_BPF_JIT or with net.core.bpf_jit_enable at 0,
//     which RunningKernel reads; negatives rejected everywhere with their
//     message). A mismatch is a Finding carrying a log excerpt.
//   - `bpfmatrix check` and `repro`: LoadObject/LoadCollection load every
//     program of a user's ELF object, one outcome per program.
//   - the orchestrator: WriteLogs moves logs out of the outcomes into files.
//
// Logging policy (speed vs. the whole log): a program is first loaded with
// log level BPF_LOG_STATS only, which costs the verifier nothing extra and
// yields "processed N insns ... peak_states N" and "verification time N
// usec". A program the verifier rejects is loaded again at level 2
// (BPF_LOG_LEVEL2 | BPF_LOG_STATS), with the buffer grown on ENOSPC by
// cilium/ebpf until the whole log fits: the full log is kept for every
// rejection. A corpus case the kernel is expected to reject (a negative case,
// or a kernel older than the case) is loaded at level 2 straight away, and a
// load refused before the verifier ran (empty log: map creation, attach
// target, kfunc) is not repeated. Accepted programs keep only the stats
// unless Options.FullLog is set (repro: a level-2 load after the stats one).
//
// The level-2 load is bounded: its buffer is sized from the stats load's
// "processed N insns", and it is skipped, with a "bpfmatrix: no level-2
// log" line appended to the kept stats log, when the verifier stopped at a
// complexity limit ("BPF program is too large", "The sequence of N jumps is
// too complex") or walked more instructions than the budget: near the
// 1M-instruction limit the level-2 log is about 300 MB (Level2Skipped).
// A program of unspecified type (a section name no loader knows) is
// Inconclusive here; internal/object reports it as an error.
//
// An freplace program, and an fentry/fexit program whose target function
// is in its own object ([TargetInObject]), is loaded against that target
// program, loaded first: cilium/ebpf would otherwise look for the function
// in the kernel's BTF ("fentry handle_packet not supported"). A tracing
// program is never such a target: kernels refuse tracing on tracing
// ("Cannot recursively attach").
//
// Outcomes: Accepted=false with a Summary means the kernel (verifier, map
// creation, attach-target lookup) said no. Inconclusive means the question
// could not be asked (no privilege, an freplace program without a target
// program): it is never counted as a rejection.
//
// Kernel BTF for CO-RE and attach targets comes from /sys/kernel/btf/vmlinux
// through cilium/ebpf, decoded once per Options.Cache.
//
// The caller must have raised RLIMIT_MEMLOCK on kernels before 5.11
// (internal/rlimit); this package never does (and never imports
// cilium/ebpf/rlimit, whose package init makes a BPF syscall).
package verifier
