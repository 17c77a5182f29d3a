// Package vm boots a kernel under QEMU with a bpfmatrix PID 1 as /init and
// runs one job inside it: the agent itself when the job is the agent
// (Options.Agent), else the lean bpfmatrix-init (see the guest binaries in
// agent.go).
//
// Everything about QEMU is data first: [MachineFor] and [Command] build the
// argv (unit-tested, printed by `bpfmatrix exec --print-cmdline`), and [Run]
// starts it. The initramfs is written in-process, as u-root's pkg/cpio
// records in the newc format:
// /init, /bpfmatrix/job.json (a wire.Job), the program under
// /bpfmatrix/bin, the job's working directory at /bpfmatrix/work (it may
// start below it, Job.WorkSubdir), empty directories for its outputs under
// /bpfmatrix/out, a static busybox at /bin/busybox with /bin/sh and the
// common applets linked to it when Job.Busybox is set, and any extra files
// at their guest paths.
//
// Job.Outputs come back: after the job exits, the guest sends each output
// file, and each file under an output directory that the job created or
// changed (mtime and size against a snapshot taken before it started), as
// wire.TypeFile frames
// before the exit frame; Run writes them at the mapped host paths with
// internal/atomicfile once the exit frame is in, and lists them in
// Result.Outputs. A frame naming a guest path outside Job.Outputs breaks
// the stream: the guest never chooses a host path.
//
// The kernel console is ttyS0 and the job's output comes back over ttyS1 as
// checksummed frames (package guest/wire); both are pipes QEMU inherits as
// fds 3 and 4. On arm64 the console is the virt machine's PL011 (ttyAMA0)
// and the data port a PCI 16550 (-device pci-serial, the guest's ttyS0).
// Serial ports need no kernel modules, so this works on every catalog
// kernel; compressed frames (zstd from the agent, DEFLATE from
// bpfmatrix-init) make up for the UART's ~1.1 MB/s under TCG. The host stops
// QEMU as soon as the exit frame is in.
//
// A job with Job.Stdin gets its standard input the other way on the data
// port: the port becomes QEMU's pipe chardev (reading DIR/data.in, a
// symlink to fd 5, and writing DIR/data.out, one to fd 4; QEMU 7.2's file
// chardev cannot read), and the host sends wire.TypeStdin frames once the
// agent has said hello.
//
// For orchestrators:
//
//	res, err := vm.Run(ctx, vm.Options{Arch: k.Arch, Kernel: k.Image, Agent: agent, Stdout: &out}, vm.Job{Program: agent, Args: []string{"probe"}})
//
// err == nil means the job ran and res.ExitCode is its status (non-zero is
// not an error). Otherwise err is a *Error whose Kind is one of
// ErrBootTimeout, ErrRunTimeout, ErrPanic, ErrQEMUExit or, when the job
// itself halted, powered off or restarted the machine (reboot(2)) before
// its exit status, ErrHalted, ErrPoweredOff or ErrRestarted, which all
// match ErrShutdown (use errors.Is),
// carrying the console tail and a reproduction command, or ctx's error when
// ctx was cancelled (QEMU is killed and temporary files removed in every
// case). A boot that broke before the agent said hello is retried once.
// A job whose exit frame never arrives is always an error, never an empty
// success.
package vm
