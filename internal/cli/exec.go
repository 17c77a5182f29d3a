package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spf13/cobra"

	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

type execFlags struct {
	kernel       string
	vm           vmFlags
	dir          string
	dirSet       bool
	printCmdline bool
	keep         bool
	env          []string
}

func newExecCmd(g *globals) *cobra.Command {
	var f execFlags
	cmd := &cobra.Command{
		Use:   "exec --kernel NAME [flags] [--] PROGRAM [ARGS...]",
		Short: "Run a program inside a catalog kernel and exit with its status",
		Long: `Boot the kernel under QEMU with the bpfmatrix agent as /init, run PROGRAM in it
with ARGS, print its stdout and stderr, and exit with its status. PROGRAM reads
exec's standard input (go test gives /dev/null: an immediate end of file).
PROGRAM must be an ELF executable for the kernel's architecture; a dynamically
linked one brings its ELF interpreter and libraries from the host. Scripts,
directories and other files are refused (exit status 2) before anything boots.

What the program sees matches the host for what Go tests rely on:
  - files: inside a Go module, the module root's tree (without .git and
    other VCS metadata, and without nested modules) is copied and PROGRAM
    starts in the working directory's place in it, so ../testdata and
    sibling packages resolve; outside a module the working directory is
    copied. --dir DIR copies DIR instead and starts at its top (--dir ""
    copies nothing). Every MB copied costs boot time (10-20 ms under TCG):
    with large build outputs in the module, --dir . copies only the
    package's directory.
  - outputs: files the program writes in the copied tree come back to the
    host tree when it exits, and so do the files go test names in
    -test.coverprofile, -test.gocoverdir (and GOCOVERDIR), -test.outputdir,
    -test.cpuprofile, -test.memprofile, -test.blockprofile,
    -test.mutexprofile and -test.trace (rewritten to guest paths; each is
    written atomically at its host path).
  - network: lo is up, with 127.0.0.1 and ::1.
  - /bin/sh: a static busybox (the host's /bin/busybox from busybox-static,
    Debian's for another architecture) at /bin/busybox, with sh and the
    common applets linked to it.
  - environment: the host's, minus host-session variables (see --env).
On a non-zero exit status, one line on stderr names the kernel it ran on.

Exit status: PROGRAM's; 128+N when signal N killed it or stopped exec
(130 for SIGINT, 143 for SIGTERM, 141 when stdout is closed early);
1 for a VM failure (including PROGRAM halting or powering off the machine);
2 for bad input.

Use it as a go test wrapper:

  go test -exec 'bpfmatrix exec --kernel debian-6.1' ./...`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.dirSet = cmd.Flags().Changed("dir")
			return runExec(cmd, g, f, args)
		},
	}
	fl := cmd.Flags()
	// Flags end at PROGRAM: go test passes -test.* flags after it.
	fl.SetInterspersed(false)
	fl.StringVar(&f.kernel, "kernel", "", "catalog kernel to boot (see 'bpfmatrix kernels list')")
	f.vm.register(fl, 2, 10*time.Minute, "time the program may run")
	fl.StringVar(&f.dir, "dir", ".", "host directory copied to the program's working directory, without .git and other VCS metadata (\"\" for none; default: the enclosing Go module's root, starting in the working directory's place in it, else \".\")")
	fl.BoolVar(&f.printCmdline, "print-cmdline", false, "print the QEMU command line and exit")
	fl.BoolVar(&f.keep, "keep", false, "keep the initramfs so the printed reproduction command works")
	registerEnvFlag(fl, &f.env)
	_ = cmd.MarkFlagRequired("kernel")
	return cmd
}

// execStdin is the job's stdin: exec's own. `go test -exec` gives the test
// binary /dev/null, which the job reads as an immediate end of file. From
// a terminal, the job reads what is typed (^D ends it); a job that never
// reads it costs nothing, and exec still ends with the job. In the
// background, reading the terminal would stop exec with SIGTTIN; ignored,
// the read fails instead and the job gets end of file.
func execStdin(r io.Reader) io.Reader {
	if r == nil {
		return nil
	}
	if f, ok := r.(*os.File); ok {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			signal.Ignore(syscall.SIGTTIN)
		}
	}
	return r
}

func runExec(cmd *cobra.Command, g *globals, f execFlags, args []string) error {
	ctx := cmd.Context()
	specs, err := g.lookupKernels([]string{f.kernel})
	if err != nil {
		return err
	}
	spec := specs[0]
	if err := f.vm.validate(); err != nil {
		return err
	}
	if _, err := os.Stat(args[0]); err != nil {
		return usageError("program: %v", err)
	}
	env, err := execEnv(os.Environ(), f.env, spec.Name)
	if err != nil {
		return err
	}
	if err := vm.CheckProgram(args[0], spec.Arch); err != nil {
		return usageError("%v", err)
	}
	root, sub, module, err := execWorkTree(f.dir, f.dirSet)
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	hostRoot := ""
	if root != "" {
		if hostRoot, err = filepath.Abs(root); err != nil {
			return fmt.Errorf("exec: %w", err)
		}
		if fi, err := os.Stat(hostRoot); err != nil || !fi.IsDir() {
			return usageError("--dir %s: not a directory", root)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("exec: %w", err)
	}
	progArgs, env, outputs, err := execOutputs(args[1:], env, wd, hostRoot)
	if err != nil {
		return err
	}
	k, err := g.fetchKernel(ctx, spec)
	if err != nil {
		return err
	}
	opts := vm.Options{
		Arch:        k.Arch,
		Kernel:      k.Image,
		Memory:      f.vm.memory,
		CPUs:        f.vm.cpus,
		BootTimeout: f.vm.bootTimeout,
		RunTimeout:  f.vm.timeout,
		Stdout:      g.stdout,
		Stderr:      g.stderr,
		Logger:      g.logger(),
		KeepFiles:   f.keep,
		// Tells a program in the guest which kernel it is on (vmtest).
		ExtraCmdline: guestMarker(spec.Name),
	}
	if g.verbose {
		opts.Console = g.stderr
	}
	if f.printCmdline {
		c, err := vm.CommandFor(opts, "INITRAMFS")
		if err != nil {
			return err
		}
		fmt.Fprintln(g.stdout, vm.Repro(c.Argv()))
		return nil
	}
	job := vm.Job{
		Program: args[0], Args: progArgs, Dir: hostRoot, WorkSubdir: sub, Module: module, Env: env,
		Stdin: execStdin(g.stdin), Outputs: outputs,
		Busybox: execBusybox(ctx, g, spec.Arch),
	}
	// A closed stdout (`exec | head`) must not kill us with SIGPIPE before
	// QEMU is stopped and the run directory removed: with SIGPIPE caught,
	// the write fails with EPIPE and vm.Run ends the run.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	res, err := vm.Run(ctx, opts, job)
	if errors.Is(err, syscall.EPIPE) {
		// What a shell reports for a writer that SIGPIPE ended, silently.
		return &ExitError{Code: 128 + int(syscall.SIGPIPE)}
	}
	if err != nil {
		var ve *vm.Error
		if errors.As(err, &ve) {
			return fmt.Errorf("exec on %s: %w", k.Name, err)
		}
		return err
	}
	if g.verbose {
		fmt.Fprintf(g.stderr, "bpfmatrix exec: %s booted in %v, ran in %v\n", res.Release, res.BootTime.Round(time.Millisecond), res.RunTime.Round(time.Millisecond))
	}
	switch {
	case res.Signal != "":
		return &ExitError{Code: 128 + signalNumber(res.Signal), Err: fmt.Errorf("%s killed by %s on %s (%s)", args[0], res.Signal, spec.Name, res.Release)}
	case res.ExitCode != 0:
		// One line naming the kernel, after the program's own output: go
		// test's and test2json's parsing ignore it.
		return &ExitError{Code: res.ExitCode, Err: fmt.Errorf("%s exited with status %d on %s (%s)", filepath.Base(args[0]), res.ExitCode, spec.Name, res.Release)}
	}
	return nil
}
