// Package guest is PID 1 inside a bpfmatrix VM.
//
// [Init] mounts the pseudo file systems (proc, sys, devtmpfs, bpffs, tracefs,
// debugfs, cgroup2, a tmpfs on /tmp), raises RLIMIT_MEMLOCK to infinity
// (kernels before 5.11 charge BPF maps to it), opens the data port named by
// the job file in raw mode, starts the job as a child process, says hello,
// streams its stdout and stderr back as frames (package wire), feeds it the
// host's wire.TypeStdin frames from the same port when the job asks for
// stdin, sends the files the job wrote to its outputs (wire.Job.Outputs:
// a file as it is, a directory as the files below it that the job created
// or changed, by mtime and size) as wire.TypeFile frames, sends its exit status and restarts the
// machine with reboot(2); the
// host runs QEMU with -no-reboot, so that ends QEMU on every kernel and
// architecture, with or without ACPI.
//
// When the job brings the kernel's config at /boot/config, Init links
// /boot/config-$(uname -r) to it: that is where libbpf and cilium/ebpf look
// for the values of __kconfig externs (Debian's kernels have no
// /proc/config.gz).
//
// Init also sets IFF_UP on lo (one ioctl), so that the kernel gives it
// 127.0.0.1 and ::1 and a test that listens on and dials localhost works
// as on the host; there is no other network.
//
// Only proc, sys and dev are required. A mount the kernel cannot do (cgroup2
// on 4.4, say) becomes a warning in the hello frame, not a failure.
//
// This package must not import cilium/ebpf: that library caches its BPF token
// lookup on the first BPF syscall, which has to happen after /proc is
// mounted, so BPF work only ever runs in the job's process.
//
// Init never returns: PID 1 exiting panics the kernel. Anything that goes
// wrong is reported in the exit frame (or, without a data port, on the
// console) before the machine restarts.
package guest
