package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bpfmatrix/bpfmatrix/internal/check"
	"github.com/bpfmatrix/bpfmatrix/internal/object"
)

type checkFlags struct {
	kernels []string
	// kernelConfig is --kernel-config, for a kernel given by path.
	kernelConfig string
	arch         string
	asJSON       bool
	run          bool
	logs         string
	parallel     int
	vm           vmFlags
	values       valueFlags
}

// valueFlags are what user space sets before load, shared by check and
// repro.
type valueFlags struct {
	loader string
	set    []string
	attach []string
	file   string
}

func (v *valueFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&v.loader, "loader", "cilium", "BPF loader: cilium (cilium/ebpf; libbpf for objects it cannot read) or libbpf (bpftool's, for every object)")
	fl.StringArrayVar(&v.set, "set", nil, "set a value user space sets before load: rodata.NAME=V, data.NAME=V, bss.NAME=V, map.NAME.max_entries=N, map.max_entries=N (repeatable)")
	fl.StringArrayVar(&v.attach, "attach-target", nil, "attach tracing program PROG to function FUNC instead of its section's: PROG=FUNC (repeatable)")
	fl.StringVar(&v.file, "values", "", "read --set and --attach-target values from a YAML or JSON `FILE` ({set: {KEY: VALUE}, attach_target: {PROG: FUNC}})")
}

// parse checks the loader and the values against the objects: bad input is
// one line, exit 2, before anything boots.
func (v valueFlags) parse(objs []*object.Object) (object.Loader, *object.Values, error) {
	loader, err := object.ParseLoader(v.loader)
	if err != nil {
		return "", nil, usageError("%v", err)
	}
	vals := &object.Values{}
	if v.file != "" {
		if err := vals.ReadFile(v.file); err != nil {
			return "", nil, usageError("%v", err)
		}
	}
	for _, s := range v.set {
		if err := vals.Set(s); err != nil {
			return "", nil, usageError("%v", err)
		}
	}
	for _, s := range v.attach {
		if err := vals.AttachTarget(s); err != nil {
			return "", nil, usageError("%v", err)
		}
	}
	if err := vals.Check(objs); err != nil {
		return "", nil, usageError("%v", err)
	}
	if loader == object.LoaderCilium {
		loader = "" // the default: cilium/ebpf with the libbpf fallback
	}
	return loader, vals, nil
}

func newCheckCmd(g *globals) *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check [--kernels a,b,...] [--json] OBJECT.o...",
		Short: "Load every program and map of BPF objects in each kernel and tabulate the verdicts",
		Long: `Boot each kernel once under QEMU (kernels in parallel) and load every map and
every program of the objects in it, each program on its own so that one
rejection hides nothing. Prints programs as rows and kernels as columns:
accepted (instructions processed) or rejected (the verifier's summary line).

CO-RE relocations are resolved against each kernel's BTF. Maps pinned by name
are loaded unpinned. fentry/fexit targets come from the kernel's BTF and an
freplace program is loaded against the program of the same object that holds
the function it replaces, and so is an fentry/fexit program whose target
function is in its own object (the target is loaded first); a program that
cannot be loaded on its own is shown as "not loaded" with the reason, and is
not counted as rejected. __kconfig externs (CONFIG_*, LINUX_KERNEL_VERSION)
are resolved against each kernel's own config.

What user space sets before load can be given, so that a program is checked
with the values it runs with: --set rodata.targ_pid=1 (a .rodata, .data or
.bss variable), --set map.events.max_entries=1024 (or map.max_entries=N for
every map that has 0), --attach-target PROG=FUNC, or the same in a --values
YAML/JSON file. Where such a value is missing (a map with max_entries 0, an
fentry/fexit or tp_btf target that is neither in the object nor in the
kernel's BTF, such as libbpf-tools' dummy_file_open placeholders or a
tracepoint the kernel does not have, for which a tool's user space picks
other programs) the cell is "needs value" with what to give: not a
rejection. Both loaders say so.

Objects built for libbpf that cilium/ebpf cannot read (usdt.bpf.h's weak
symbols, a typedef'd LINUX_KERNEL_VERSION) are loaded with libbpf, through
Debian's bpftool in the guest, one program at a time; --loader libbpf loads
every object that way. Such cells are marked "(libbpf)" and carry
"loader": "libbpf" in --json. bpftool cannot set values: with the libbpf
loader --set and --attach-target are not applied (a note says so).

Objects are read on the host first: a file that is not a little-endian BPF
ELF object gets one row with its error and is not sent to any kernel; the
others are checked as usual ("bpfmatrix check dir/*" checks a directory). An
object with maps and no programs gets a row per map: created, or the
kernel's reason for refusing it. A program that cannot be judged at all (its
section names no program type, or the loader crashed on it) is an "error"
cell with the reason; the other programs keep their verdicts.

Exit status: 0 when nothing is rejected (cells that need a value from user
space, or could not be loaded on their own, do not count); 1 when any
program or map is rejected, any cell is an error (an unreadable object, a
program that could not be judged) or a kernel could not be booted; 2 on
bad usage (a value that fits no object, a malformed --values file), or
when no object could be read at all (then nothing is booted).

--run attaches each loaded program the way its section name says (kprobe/,
kretprobe/, tracepoint/, raw_tp/, fentry/, fexit/, tp_btf/, lsm/, iter/,
xdp on lo in generic mode, tc/tcx on lo, socket, cgroup_skb/ and cgroup/ on
the root cgroup, sk_lookup, perf_event on a CPU clock, uprobe/PATH:SYMBOL),
runs generic triggers and adds "run: ran N times (how)", "attached, did not
run" or "not attached: why" to its cell, from the kernel's run count (BPF
stats, 5.8+). Each program is loaded with its own copy of the maps, and
--logs DIR keeps what they hold afterwards. Whether a program ran does not
change the exit status.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runCheck(cmd.Context(), g, f, args) },
	}
	fl := cmd.Flags()
	kernelsFlag(fl, &f.kernels, "kernels to check against (default: the catalog's default set for --arch)")
	kernelConfigFlag(fl, &f.kernelConfig)
	fl.StringVar(&f.arch, "arch", "all", "architecture of the default set: x86_64, arm64 or all")
	fl.BoolVar(&f.asJSON, "json", false, "write the table as JSON")
	fl.StringVar(&f.logs, "logs", "", "write every rejected program's whole verifier log under `DIR`/KERNEL/")
	fl.BoolVar(&f.run, "run", false, "also attach each program as its section name says, trigger it (syscalls, an open, an unlink, a packet on lo) and report whether it ran; with --logs, its maps' contents go to DIR/KERNEL/OBJECT.PROGRAM.maps.json")
	fl.IntVar(&f.parallel, "parallel", 2, "kernels booted at once")
	f.vm.register(fl, 1, 5*time.Minute, "time the loads may take per VM")
	f.values.register(fl)
	return cmd
}

func runCheck(ctx context.Context, g *globals, f checkFlags, args []string) error {
	if len(args) == 0 {
		return usageError("check: no objects given (usage: bpfmatrix check [--kernels a,b] OBJECT.o...)")
	}
	if f.parallel <= 0 {
		return usageError("--parallel must be positive")
	}
	if err := f.vm.validate(); err != nil {
		return err
	}
	if err := checkOutputDir("--logs", f.logs); err != nil {
		return err
	}
	inputs, err := check.Open(args)
	if errors.Is(err, check.ErrNoObject) {
		return usageError("%v", err)
	}
	loader, values, err := f.values.parse(check.Objects(inputs))
	if err != nil {
		return err
	}
	specs, err := g.selectKernels(ctx, f.kernels, f.arch, f.kernelConfig, false)
	if err != nil {
		return err
	}
	fetcher, err := g.fetcher(nil)
	if err != nil {
		return err
	}
	if err := requireConfigured(fetcher, specs); err != nil {
		return err
	}
	rep, loads, err := check.Check(ctx, specs, inputs, check.Options{
		Fetcher: fetcher, Parallel: f.parallel,
		CPUs: f.vm.cpus, Memory: f.vm.memory, BootTimeout: f.vm.bootTimeout, RunTimeout: f.vm.timeout,
		Logger: g.logger(), Console: g.consoleWriter(),
		Loader: loader, Values: values, Run: f.run,
	})
	if err != nil {
		return err
	}
	if f.logs != "" {
		if err := check.WriteLogs(f.logs, loads, &rep); err != nil {
			return err
		}
	}
	if f.asJSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else {
		check.WriteTable(g.stdout, rep)
	}
	var failed []string
	for _, kl := range loads {
		if kl.Err != nil {
			failed = append(failed, kl.Spec.Name)
			// The whole error: console tail and the QEMU command to rerun.
			fmt.Fprintln(g.stderr, "Error:", kl.Err)
			continue
		}
		// A loader crash is a bug report: its stack goes with it.
		for _, crash := range check.Crashes(kl) {
			fmt.Fprintln(g.stderr, "Error:", crash)
		}
	}
	switch {
	case len(failed) > 0:
		return &ExitError{Code: 1, Err: fmt.Errorf("check: no verdict from %s (see the errors above)", strings.Join(failed, ", "))}
	case rep.Failed():
		return &ExitError{Code: 1}
	}
	return nil
}

// openObjects validates the objects on the host: bad input is exit 2
// before any kernel is fetched or booted.
func openObjects(paths []string) ([]*object.Object, error) {
	objs := make([]*object.Object, 0, len(paths))
	for _, p := range paths {
		o, err := object.Open(p)
		if err != nil {
			return nil, usageError("%v", err)
		}
		objs = append(objs, o)
	}
	return objs, nil
}
