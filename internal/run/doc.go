// Package run orchestrates a matrix run: for each kernel it fetches the image
// (internal/fetch), boots it with the agent (internal/vm), runs the probes
// and the verifier corpus inside as one job, and collects a
// result.KernelResult. Kernels run concurrently up to a limit; a kernel that
// fails to fetch or boot keeps its place in the matrix with the error, and
// never affects the others. A broken boot is retried once (internal/vm
// decides what counts as broken).
//
// The bpftool cross-check runs in every guest it can: kernels of the host's
// architecture get the host's bpftool (Options.Bpftool), the others Debian's
// for theirs from internal/fetch (Options.ForeignBpftool).
//
// Results are cached under a key that covers everything that decides them,
// each hashed from its content at run time (never taken from a cache
// record): the kernel image, every file the guest receives (the kernel's
// config, bpftool and its libraries), the agent, the job's arguments, the
// VM's CPUs and memory, and the feature tables and verifier corpus that say
// what counts as a finding. A repeat run with nothing changed boots nothing;
// a config edited on disk runs the kernel again, and restoring it finds the
// original result.
package run
