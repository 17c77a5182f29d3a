package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/needs"
	"github.com/bpfmatrix/bpfmatrix/internal/object"
	"github.com/bpfmatrix/bpfmatrix/internal/run"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// Options configure Check, Load and Repro.
type Options struct {
	// Fetcher fetches the kernels (required).
	Fetcher *fetch.Fetcher
	// Parallel is how many kernels are booted at once (default 1).
	Parallel int
	// CPUs and Memory per VM (defaults from internal/vm).
	CPUs, Memory int
	// BootTimeout and RunTimeout per VM (defaults from internal/vm).
	BootTimeout, RunTimeout time.Duration
	// Agent overrides vm.AgentBinary.
	Agent string
	// Logger receives progress records; nil discards them.
	Logger *slog.Logger
	// Console receives VM consoles (verbose mode); nil buffers them.
	Console io.Writer

	// Loader chooses the loader: object.LoaderCilium (the default, "")
	// loads with cilium/ebpf and falls back to libbpf (bpftool in the guest)
	// for an object cilium/ebpf cannot read; object.LoaderLibbpf loads
	// every object with libbpf.
	Loader object.Loader
	// Bpftool is the host's bpftool, put in guests of the host's
	// architecture when an object is loaded with libbpf (default
	// /usr/sbin/bpftool); guests of another architecture get Debian's for
	// theirs through Fetcher.Tools.
	Bpftool string
	// Values are what user space sets before load (object.ParseValues).
	Values *object.Values

	// Run also attaches each program the way its section name says,
	// triggers it generically and dumps its maps (internal/observe
	// RunObject): Cell.Ran, and WriteLogs writes the dumps.
	Run bool

	// Programs restricts the programs loaded (nil: all).
	Programs []string
	// FullLog keeps the level-2 log of accepted programs too (repro).
	FullLog bool
	// TempDir and KeepFiles are passed to vm.Options (repro keeps the
	// initramfs).
	TempDir   string
	KeepFiles bool
}

// Input is one object argument: read on the host, or why not.
type Input struct {
	Path string
	// Object is nil when Err is set.
	Object *object.Object
	Err    error
}

// ErrNoObject is wrapped by Open's error when no object could be read.
var ErrNoObject = errors.New("no readable BPF object")

// Open reads every object on the host. An unreadable object is its own
// Input (its row says why), not the end of the check; only when none can be
// read is it an error (wrapping ErrNoObject and object.ErrInvalid), one line
// naming every file's problem.
func Open(paths []string) ([]Input, error) {
	inputs := make([]Input, 0, len(paths))
	var errs []string
	n := 0
	for _, p := range paths {
		o, err := object.Open(p)
		inputs = append(inputs, Input{Path: p, Object: o, Err: err})
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		n++
	}
	if n == 0 {
		return nil, &noObjectError{msg: strings.Join(errs, "; ")}
	}
	return inputs, nil
}

type noObjectError struct{ msg string }

func (e *noObjectError) Error() string { return e.msg }
func (e *noObjectError) Is(target error) bool {
	return target == ErrNoObject || target == object.ErrInvalid
}

// Objects are the readable objects of inputs, in order.
func Objects(inputs []Input) []*object.Object {
	var objs []*object.Object
	for _, in := range inputs {
		if in.Object != nil {
			objs = append(objs, in.Object)
		}
	}
	return objs
}

// KernelLoad is one kernel's answer for a set of objects.
type KernelLoad struct {
	Spec   catalog.KernelSpec
	Kernel *fetch.Kernel
	// VM is the VM's result whenever it ran.
	VM *vm.Result
	// Report holds one object.ObjectReport per object, in order, with the
	// host's paths.
	Report object.LoadReport
	// Err is set when the kernel could not be fetched or booted, or the
	// agent failed: no verdict from this kernel.
	Err error
	// Modules is the kernel's module index (fetch.ModuleIndex), read only
	// when an object calls kfuncs or implements struct_ops; nil otherwise,
	// or when the kernel has none (ModulesErr says why).
	Modules    *fetch.ModuleIndex
	ModulesErr error
}

// Guest paths of a check job.
const (
	guestObjectDir = "/bpfmatrix/objects"
	// GuestConfig is where the kernel's config goes; the guest's PID 1
	// links /boot/config-$(uname -r) to it, where libbpf and cilium/ebpf
	// look for __kconfig externs (internal/guest).
	GuestConfig  = "/boot/config"
	guestBpftool = "/usr/sbin/bpftool"
)

// guestObjectPath is where object i is put in the guest: its own directory,
// so that two objects with the same base name do not collide.
func guestObjectPath(i int, host string) string {
	return path.Join(guestObjectDir, strconv.Itoa(i), filepath.Base(host))
}

// Load boots every kernel once (up to opts.Parallel at a time) and loads
// all objects in it with `bpfmatrix-agent load --json`. It returns one
// KernelLoad per spec, in order; a kernel that fails keeps its place with
// Err. Report paths are the host paths.
func Load(ctx context.Context, specs []catalog.KernelSpec, objs []*object.Object, opts Options) []KernelLoad {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	loads := make([]KernelLoad, len(specs))
	skipped := run.Each(ctx, len(specs), opts.Parallel, func(i int) {
		loads[i] = loadKernel(ctx, specs[i], objs, opts)
	})
	for _, i := range skipped {
		loads[i] = KernelLoad{Spec: specs[i], Err: ctx.Err()}
	}
	for i := range loads {
		if loads[i].Err != nil {
			loads[i].Err = fmt.Errorf("%s: %w", specs[i].Name, loads[i].Err)
		}
	}
	return loads
}

// usesModules says whether any object calls kfuncs or implements
// struct_ops types, which a kernel module may provide.
func usesModules(objs []*object.Object) bool {
	for _, o := range objs {
		spec := o.AnalysisSpec()
		if spec == nil {
			continue
		}
		if ex, err := needs.NewExplainer(spec); err == nil && ex.UsesModules() {
			return true
		}
	}
	return false
}

// needsLibbpf says whether any object will be loaded with libbpf, so that
// the guest needs bpftool.
func needsLibbpf(objs []*object.Object, loader object.Loader) bool {
	if loader == object.LoaderLibbpf {
		return true
	}
	for _, o := range objs {
		if o.CiliumUnreadable != "" {
			return true
		}
	}
	return false
}

func loadKernel(ctx context.Context, spec catalog.KernelSpec, objs []*object.Object, opts Options) KernelLoad {
	kl := KernelLoad{Spec: spec}
	log := opts.Logger.With("kernel", spec.Name)
	kl.Kernel, kl.Err = opts.Fetcher.Fetch(ctx, spec)
	if kl.Err != nil {
		return kl
	}
	if usesModules(objs) {
		// The guest loads no modules: a kfunc or struct_ops type a module
		// provides is missing there whatever the program does.
		kl.Modules, kl.ModulesErr = opts.Fetcher.ModuleIndex(ctx, spec)
		if kl.ModulesErr != nil {
			log.Warn("no module index", "err", kl.ModulesErr)
		}
	}
	agent := opts.Agent
	if agent == "" {
		if agent, kl.Err = vm.AgentBinary(ctx, spec.Arch); kl.Err != nil {
			return kl
		}
	}
	job, err := buildJob(ctx, spec, kl.Kernel, agent, objs, opts)
	if err != nil {
		kl.Err = err
		return kl
	}
	log.Info("booting", "image", kl.Kernel.Image)
	kl.VM, kl.Err = run.AgentJSON(ctx, vm.Options{
		Arch: spec.Arch, Kernel: kl.Kernel.Image, Agent: agent,
		Memory: opts.Memory, CPUs: opts.CPUs,
		BootTimeout: opts.BootTimeout, RunTimeout: opts.RunTimeout,
		Console: opts.Console, Logger: log,
		TempDir: opts.TempDir, KeepFiles: opts.KeepFiles,
	}, job, &kl.Report)
	if kl.Err != nil {
		return kl
	}
	log.Info("loaded", "release", kl.VM.Release, "boot", kl.VM.BootTime.Round(time.Millisecond), "load", kl.VM.RunTime.Round(time.Millisecond))
	switch {
	case kl.Report.Schema != object.ReportSchema:
		kl.Err = fmt.Errorf("decode agent result: schema %d, want %d", kl.Report.Schema, object.ReportSchema)
	case len(kl.Report.Objects) != len(objs):
		kl.Err = fmt.Errorf("decode agent result: %d objects, want %d", len(kl.Report.Objects), len(objs))
	default:
		for j := range kl.Report.Objects {
			kl.Report.Objects[j].Path = objs[j].Path
			for p := range kl.Report.Objects[j].Programs {
				kl.Report.Objects[j].Programs[p].Object = objs[j].Path
			}
		}
	}
	return kl
}

// buildJob assembles the agent's load job: the objects, the kernel's config
// (for __kconfig externs), the values, and bpftool when libbpf loads.
func buildJob(ctx context.Context, spec catalog.KernelSpec, k *fetch.Kernel, agent string, objs []*object.Object, opts Options) (vm.Job, error) {
	job := vm.Job{Program: agent, Args: []string{"load", "--json"}, Files: map[string]string{}}
	if opts.FullLog {
		job.Args = append(job.Args, "--full-log")
	}
	if opts.Run {
		job.Args = append(job.Args, "--run")
	}
	if len(opts.Programs) > 0 {
		job.Args = append(job.Args, "--program", strings.Join(opts.Programs, ","))
	}
	if opts.Loader != "" {
		job.Args = append(job.Args, "--loader", string(opts.Loader))
	}
	if k.Config != "" {
		job.Files[GuestConfig] = k.Config
	}
	if !opts.Values.Empty() {
		// Resolved per object on the host (CheckValues said they fit), so
		// that the agent only copies bytes into the specs.
		enc, err := opts.Values.Encode(objs)
		if err != nil {
			return job, err
		}
		job.Args = append(job.Args, "--values", string(enc))
	}
	if needsLibbpf(objs, opts.Loader) {
		bin, libs, err := bpftoolFor(ctx, spec, opts)
		if err != nil {
			return job, err
		}
		for g, h := range libs {
			job.Files[g] = h
		}
		job.Files[guestBpftool] = bin
		job.Args = append(job.Args, "--bpftool", guestBpftool)
	}
	for j, obj := range objs {
		gp := guestObjectPath(j, obj.Path)
		job.Files[gp] = obj.Path
		job.Args = append(job.Args, gp)
	}
	return job, nil
}

// bpftoolFor returns bpftool for spec's guest and its shared libraries
// (guest path -> host path): the host's for the host's architecture,
// Debian's for another.
func bpftoolFor(ctx context.Context, spec catalog.KernelSpec, opts Options) (string, map[string]string, error) {
	if spec.Arch.GOARCH() == runtime.GOARCH {
		host := opts.Bpftool
		if host == "" {
			host = "/usr/sbin/bpftool"
		}
		files, err := vm.DynamicClosure(host)
		if err != nil {
			return "", nil, fmt.Errorf("bpftool for the libbpf loader: %w", err)
		}
		bin := files[host]
		delete(files, host)
		return bin, files, nil
	}
	tools, err := opts.Fetcher.Tools(ctx, spec.Arch)
	if err != nil {
		return "", nil, fmt.Errorf("bpftool for the libbpf loader: %w", err)
	}
	return tools.Bpftool, tools.BpftoolLibs, nil
}
