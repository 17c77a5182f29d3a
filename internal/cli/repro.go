package cli

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/check"
	"github.com/bpfmatrix/bpfmatrix/internal/object"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

type reproFlags struct {
	kernel  string
	program string
	out     string
	shell   bool
	busybox string
	bpftool string
	// busyboxSet and bpftoolSet: the flags were given, so they also apply
	// to kernels of another architecture.
	busyboxSet, bpftoolSet bool
	vm                     vmFlags
	values                 valueFlags
}

// Guest paths of `repro --shell`.
const (
	shellObjectDir = "/obj"
	shellAgent     = "/usr/local/bin/bpfmatrix-agent"
	shellBpftool   = "/usr/sbin/bpftool"
)

func newReproCmd(g *globals) *cobra.Command {
	var f reproFlags
	cmd := &cobra.Command{
		Use:   "repro --kernel NAME [--program NAME] OBJECT.o | repro --shell --kernel NAME [OBJECT.o]",
		Short: "Reproduce a verifier verdict in one kernel with the whole log, or open a shell in it",
		Long: `Boot one kernel, load the object's programs (or only --program) with the
verifier log at level 2, and print each log annotated with the source lines
from the object's BTF line info; for a rejected program, the failing
instruction (the last one the verifier reported before its error) is marked
with ">>> " and named, with its source line, above the log.

An artifact directory (--out, default repro-OBJECT-KERNEL-TIME) keeps the raw
and annotated logs, a copy of the object, the kernel's name, release and
digest, the initramfs and the exact commands to rerun (this bpfmatrix command
and the QEMU line). Exit status 1 when the kernel rejects a program, 0 when
it accepts them all, 2 on bad input.

With --shell, start an interactive busybox shell inside the kernel instead,
with the object under /obj, bpftool and bpfmatrix-agent on PATH (try
"bpfmatrix-agent load --full-log /obj/OBJECT.o" or "bpftool prog loadall").
Standard input goes to the shell line by line (no job control, no terminal
in the guest); the exit status is the shell's. For a kernel of another
architecture than the host's (arm64 on x86_64), busybox and bpftool are
Debian's for that architecture (busybox-static, and bpftool with its
libraries, from the release the host's apt sources name), fetched, verified
and cached like kernels, unless --busybox or --bpftool are given.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f.busyboxSet = cmd.Flags().Changed("busybox")
			f.bpftoolSet = cmd.Flags().Changed("bpftool")
			if f.shell {
				return runReproShell(cmd.Context(), g, f, args)
			}
			return runRepro(cmd.Context(), g, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kernel, "kernel", "", "catalog kernel to boot (see 'bpfmatrix kernels list')")
	fl.StringVar(&f.program, "program", "", "load only this program (default: all)")
	fl.StringVar(&f.out, "out", "", "artifact `DIR` (default repro-OBJECT-KERNEL-TIME in the current directory)")
	fl.BoolVar(&f.shell, "shell", false, "open an interactive shell in the kernel instead")
	fl.StringVar(&f.busybox, "busybox", "/bin/busybox", "static busybox for --shell (Debian's busybox-static; a kernel of another arch gets Debian's for its arch unless this is set)")
	fl.StringVar(&f.bpftool, "bpftool", "/usr/sbin/bpftool", "bpftool for --shell, copied with its shared libraries (\"\" for none; a kernel of another arch gets Debian's for its arch unless this is set)")
	f.values.register(fl)
	f.vm.register(fl, 2, 0, "time the load may take (default 10m; --shell: how long the shell may stay open, default 24h)")
	return cmd
}

func (g *globals) lookupKernel(name string) (catalog.KernelSpec, error) {
	if name == "" {
		return catalog.KernelSpec{}, usageError("--kernel is required (see 'bpfmatrix kernels list')")
	}
	specs, err := g.lookupKernels([]string{name})
	if err != nil {
		return catalog.KernelSpec{}, err
	}
	return specs[0], nil
}

// reproInputs checks repro's flags and inputs on the host, before any VM
// boots: the timeout (default for the mode), the kernel name and the objects.
func reproInputs(g *globals, f *reproFlags, args []string, defaultTimeout time.Duration) (catalog.KernelSpec, []*object.Object, error) {
	if f.vm.timeout == 0 {
		f.vm.timeout = defaultTimeout
	}
	if err := f.vm.validate(); err != nil {
		return catalog.KernelSpec{}, nil, err
	}
	spec, err := g.lookupKernel(f.kernel)
	if err != nil {
		return catalog.KernelSpec{}, nil, err
	}
	objs, err := openObjects(args)
	if err != nil {
		return catalog.KernelSpec{}, nil, err
	}
	return spec, objs, nil
}

func runRepro(ctx context.Context, g *globals, f reproFlags, args []string) error {
	if len(args) != 1 {
		return usageError("repro: want exactly one OBJECT.o (usage: bpfmatrix repro --kernel NAME [--program NAME] OBJECT.o)")
	}
	spec, objs, err := reproInputs(g, &f, args, 10*time.Minute)
	if err != nil {
		return err
	}
	obj := objs[0]
	if err := obj.Select(f.program); err != nil {
		return usageError("%v", err)
	}
	loader, values, err := f.values.parse(objs)
	if err != nil {
		return err
	}
	out := f.out
	if out == "" {
		out = check.ReproDir(obj, spec, time.Now())
	}
	if _, err := os.Stat(out); err == nil {
		return usageError("--out %s: already exists", out)
	}
	fetcher, err := g.fetcher(nil)
	if err != nil {
		return err
	}
	opts := check.Options{
		Fetcher: fetcher,
		CPUs:    f.vm.cpus, Memory: f.vm.memory, BootTimeout: f.vm.bootTimeout, RunTimeout: f.vm.timeout,
		Logger: g.logger(), Console: g.consoleWriter(),
		Loader: loader, Values: values,
	}
	if f.program != "" {
		opts.Programs = []string{f.program}
	}
	res, err := check.Repro(ctx, spec, obj, out, opts)
	if err != nil {
		if res != nil {
			for _, o := range res.Load.Report.Objects {
				if o.Stack != "" {
					fmt.Fprintln(g.stderr, o.Stack) // a loader crash: the bug report
				}
			}
		}
		return err
	}
	if _, err := g.stdout.Write(res.Text); err != nil {
		return err
	}
	if res.Failed > 0 {
		return &ExitError{Code: 1}
	}
	return nil
}

// shellScript prepares the guest for people: busybox applets on PATH, a
// prompt naming the kernel, a greeting saying where things are.
const shellScript = `/bpfmatrix/bin/busybox mkdir -p /bin /usr/bin /sbin
/bpfmatrix/bin/busybox --install -s /bin
export PS1="[bpfmatrix $(uname -r)] \w # "
cd "${OBJDIR:-/}"
echo "bpfmatrix shell on $(uname -r): objects in ${OBJDIR:-(none)}; bpftool, bpfmatrix-agent and busybox applets on PATH; exit to power off" >&2
exec /bin/sh -i`

func runReproShell(ctx context.Context, g *globals, f reproFlags, args []string) error {
	if len(args) > 1 {
		return usageError("repro --shell: at most one OBJECT.o")
	}
	spec, objs, err := reproInputs(g, &f, args, 24*time.Hour)
	if err != nil {
		return err
	}
	// The host's busybox and bpftool run in kernels of the host's arch;
	// others get Debian's for theirs. Given flags win, and are checked
	// before anything is fetched.
	foreign := spec.Arch.GOARCH() != runtime.GOARCH
	busybox, bpftool := f.busybox, f.bpftool
	if !foreign || f.busyboxSet {
		if err := checkStaticBusybox(busybox, spec.Arch); err != nil {
			return err
		}
	}
	if bpftool != "" && (!foreign || f.bpftoolSet) {
		if err := checkELFArch("bpftool", bpftool, spec.Arch); err != nil {
			return err
		}
	}
	var bpftoolLibs map[string]string // guest -> host, when Debian's
	if foreign && (!f.busyboxSet || !f.bpftoolSet) {
		fetcher, err := g.fetcher(nil)
		if err != nil {
			return err
		}
		tools, err := fetcher.Tools(ctx, spec.Arch)
		if err != nil {
			return fmt.Errorf("repro --shell on %s: %w (--busybox and --bpftool name your own)", spec.Name, err)
		}
		if !f.busyboxSet {
			busybox = tools.Busybox
		}
		if !f.bpftoolSet {
			bpftool, bpftoolLibs = tools.Bpftool, tools.BpftoolLibs
		}
	}
	k, err := g.fetchKernel(ctx, spec)
	if err != nil {
		return err
	}
	agent, err := vm.AgentBinary(ctx, spec.Arch)
	if err != nil {
		return err
	}
	job := vm.Job{
		Program: busybox,
		Args:    []string{"sh", "-c", shellScript},
		Files:   map[string]string{shellAgent: agent},
		Stdin:   g.stdin,
	}
	switch {
	case bpftoolLibs != nil:
		for gp, hp := range bpftoolLibs {
			job.Files[gp] = hp
		}
		job.Files[shellBpftool] = bpftool
	case bpftool != "":
		files, err := vm.DynamicClosure(bpftool)
		if err != nil {
			return fmt.Errorf("repro --shell: %w (use --bpftool \"\" to go without)", err)
		}
		for gp, hp := range files {
			job.Files[gp] = hp
		}
		job.Files[shellBpftool] = files[bpftool]
	}
	if k.Config != "" {
		// __kconfig externs resolve from /boot/config-$(uname -r) (internal/guest).
		job.Files[check.GuestConfig] = k.Config
	}
	for _, o := range objs {
		job.Files[filepath.Join(shellObjectDir, filepath.Base(o.Path))] = o.Path
		job.Env = append(job.Env, "OBJDIR="+shellObjectDir, "OBJ="+filepath.Join(shellObjectDir, filepath.Base(o.Path)))
	}
	res, err := vm.Run(ctx, vm.Options{
		Arch: k.Arch, Kernel: k.Image, Agent: agent,
		Memory: f.vm.memory, CPUs: f.vm.cpus,
		BootTimeout: f.vm.bootTimeout, RunTimeout: f.vm.timeout,
		Stdout: g.stdout, Stderr: g.stderr, Console: g.consoleWriter(), Logger: g.logger(),
	}, job)
	if err != nil {
		return fmt.Errorf("repro --shell on %s: %w", spec.Name, err)
	}
	switch {
	case res.Signal != "":
		return &ExitError{Code: 128 + signalNumber(res.Signal), Err: fmt.Errorf("shell killed by %s", res.Signal)}
	case res.ExitCode != 0:
		return &ExitError{Code: res.ExitCode}
	}
	return nil
}

// checkStaticBusybox insists on a static binary for the kernel's arch: the
// guest has no libc.
func checkStaticBusybox(path string, arch catalog.Arch) error {
	f, err := elf.Open(path)
	if err != nil {
		return usageError("busybox: %v (install busybox-static or pass --busybox)", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return usageError("busybox %s is dynamically linked; the guest needs a static one (Debian's busybox-static)", path)
		}
	}
	return checkELFArch("busybox", path, arch)
}

// checkELFArch refuses a program the kernel's CPU would not run.
func checkELFArch(what, path string, arch catalog.Arch) error {
	f, err := elf.Open(path)
	if err != nil {
		return usageError("%s: %v (pass --%s)", what, err, what)
	}
	defer f.Close()
	want := map[catalog.Arch]elf.Machine{catalog.AMD64: elf.EM_X86_64, catalog.ARM64: elf.EM_AARCH64}[arch]
	if f.Machine != want {
		return usageError("%s %s is for %s, the kernel is %s", what, path, f.Machine, arch)
	}
	return nil
}
