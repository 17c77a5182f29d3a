// Package rlimit raises RLIMIT_MEMLOCK for BPF work: kernels before 5.11
// charge BPF maps and programs to it, and without raising it creating a ring
// buffer on 5.10 fails with EPERM, which a probe would misreport as
// "unsupported".
//
// It does what cilium/ebpf/rlimit does, with plain setrlimit: that package
// makes a BPF syscall in its init, and cilium/ebpf caches its BPF token
// lookup on the first BPF syscall, which must not happen before the guest
// has mounted /proc. This package imports nothing from cilium/ebpf.
package rlimit
