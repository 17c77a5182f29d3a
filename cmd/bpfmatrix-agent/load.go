package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/object"
	"github.com/bpfmatrix/bpfmatrix/internal/observe"
	"github.com/bpfmatrix/bpfmatrix/internal/rlimit"
)

func init() { subcommands["load"] = runLoad }

// runLoad loads users' objects into the running kernel: the guest half of
// `bpfmatrix check` and `repro`.
//
//	bpfmatrix-agent load [--json] [--full-log] [--run] [--program NAME,...]
//	    [--loader cilium|libbpf] [--bpftool PATH] [--values JSON] OBJECT...
//
// --loader libbpf loads every object with libbpf through bpftool (--bpftool);
// by default cilium/ebpf loads them, and libbpf only those cilium/ebpf cannot
// read, when --bpftool is given. --values is a JSON list of
// object.ObjectValues, one per object, resolved on the host.
// --json writes one compact object.LoadReport with every rejected program's
// whole level-2 log in its Log field (the guest's files vanish at power-off).
// --full-log keeps the level-2 log of accepted programs too. Without --json
// it prints a table (for `repro --shell`). A rejected program is data, not a
// failure: the exit status is 0 unless the arguments are wrong (2) or
// nothing could be loaded at all (1).
//
// The objects are loaded in a worker process (this binary, load --worker),
// which writes one ObjectReport per line as each object is done. A panic is
// recovered inside the worker (object.Load); what recover cannot catch (a
// Go fatal error, the kernel's OOM killer) ends only the worker: the object
// it was loading gets an error report with the worker's stderr (the Go
// runtime's stacks), and a new worker goes on with the next object.
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("load", flag.ContinueOnError)
	fl.SetOutput(stderr)
	asJSON := fl.Bool("json", false, "write a compact JSON LoadReport to stdout")
	fullLog := fl.Bool("full-log", false, "keep the level-2 verifier log of accepted programs too")
	programs := fl.String("program", "", "comma-separated program `NAMES` (default all)")
	loader := fl.String("loader", "", "cilium or libbpf (default: cilium, libbpf for objects cilium/ebpf cannot read)")
	bpftool := fl.String("bpftool", "", "bpftool `PATH` for the libbpf loader")
	valuesJSON := fl.String("values", "", "JSON list of per-object values (object.ObjectValues)")
	runThem := fl.Bool("run", false, "also attach each program by its section name, trigger it and dump its maps (check --run)")
	worker := fl.Bool("worker", false, "internal: load the objects and write one ObjectReport per line")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() == 0 {
		fmt.Fprintln(stderr, "Error: usage: bpfmatrix-agent load [--json] [--full-log] [--program NAME,...] OBJECT...")
		return 2
	}
	if err := rlimit.RaiseMemlock(); err != nil && !errors.Is(err, rlimit.ErrMemlockLimited) {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	var values []object.ObjectValues
	if *valuesJSON != "" {
		if err := json.Unmarshal([]byte(*valuesJSON), &values); err != nil || len(values) != fl.NArg() {
			fmt.Fprintf(stderr, "Error: --values: want a JSON list of %d object values (%v)\n", fl.NArg(), err)
			return 2
		}
	}
	var ld object.Loader
	if *loader != "" {
		l, err := object.ParseLoader(*loader)
		if err != nil {
			fmt.Fprintln(stderr, "Error:", err)
			return 2
		}
		ld = l
	}
	var names []string
	if *programs != "" {
		names = strings.Split(*programs, ",")
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	rep := object.LoadReport{Schema: object.ReportSchema, Release: unix.ByteSliceToString(uts.Release[:])}
	if *worker {
		cache := btf.NewCache()
		enc := json.NewEncoder(stdout)
		for i, path := range fl.Args() {
			if ctx.Err() != nil {
				fmt.Fprintln(stderr, "Error:", ctx.Err())
				return 1
			}
			lo := object.LoadOptions{Programs: names, FullLog: *fullLog, Cache: cache, Loader: ld, Bpftool: *bpftool}
			if values != nil {
				lo.Values = values[i]
			}
			or := object.Load(path, lo)
			if *runThem && or.Error == "" {
				run := observe.RunObject(path)
				or.Run = &run
			}
			if err := enc.Encode(or); err != nil {
				fmt.Fprintln(stderr, "Error: write report:", err)
				return 1
			}
		}
		return 0
	}
	var workerArgs []string
	if *fullLog {
		workerArgs = append(workerArgs, "--full-log")
	}
	if *programs != "" {
		workerArgs = append(workerArgs, "--program", *programs)
	}
	if *loader != "" {
		workerArgs = append(workerArgs, "--loader", *loader)
	}
	if *bpftool != "" {
		workerArgs = append(workerArgs, "--bpftool", *bpftool)
	}
	if *runThem {
		workerArgs = append(workerArgs, "--run")
	}
	objs, err := superviseLoad(ctx, workerArgs, values, fl.Args())
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	rep.Objects = objs
	if *asJSON {
		return writeJSON(stdout, stderr, rep)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OBJECT\tPROGRAM\tRESULT\tINSNS\tSUMMARY")
	for _, o := range rep.Objects {
		if o.Error != "" {
			fmt.Fprintf(tw, "%s\t-\terror\t-\t%s\n", o.Path, o.Error)
			continue
		}
		for _, p := range o.Programs {
			res, sum := "rejected", p.Summary
			switch {
			case p.Error != "":
				res, sum = "error", p.Error
			case p.NeedsValue != "":
				res, sum = "needs value", p.NeedsValue
			case p.Inconclusive != "":
				res, sum = "not loaded", p.Inconclusive
			case p.Accepted:
				res = "accepted"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", o.Path, p.Program, res, p.Insns, sum)
		}
		for _, m := range o.Maps {
			switch {
			case m.NeedsValue != "":
				fmt.Fprintf(tw, "%s\tmap %s (%s)\tneeds value\t-\t%s\n", o.Path, m.Name, m.Type, m.NeedsValue)
			case !m.Created:
				fmt.Fprintf(tw, "%s\tmap %s (%s)\trejected\t-\t%s\n", o.Path, m.Name, m.Type, m.Error)
			}
		}
	}
	tw.Flush()
	if *fullLog {
		for _, o := range rep.Objects {
			for _, p := range o.Programs {
				if p.Log != "" {
					fmt.Fprintf(stdout, "\n=== %s %s\n%s\n", o.Path, p.Program, p.Log)
				}
			}
		}
	}
	return 0
}

// superviseLoad runs `load --worker` on paths, starting a new worker after
// the object a worker died on, and returns one report per path.
func superviseLoad(ctx context.Context, workerArgs []string, values []object.ObjectValues, paths []string) ([]object.ObjectReport, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the agent binary: %w", err)
	}
	var reps []object.ObjectReport
	for len(reps) < len(paths) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rest := paths[len(reps):]
		args := append([]string{"load", "--worker"}, workerArgs...)
		if values != nil {
			b, _ := json.Marshal(values[len(reps):])
			args = append(args, "--values", string(b))
		}
		cmd := exec.CommandContext(ctx, self, append(args, rest...)...)
		var errTail tailBuffer
		cmd.Stderr = &errTail
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, fmt.Errorf("start loader: %w", err)
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start loader: %w", err)
		}
		r := bufio.NewReader(out)
		got := 0
		for got < len(rest) {
			line, err := r.ReadBytes('\n')
			if err != nil {
				break // the worker is gone: see Wait
			}
			var rep object.ObjectReport
			if err := json.Unmarshal(line, &rep); err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				return nil, fmt.Errorf("read loader report: %w", err)
			}
			reps = append(reps, rep)
			got++
		}
		werr := cmd.Wait()
		if got == len(rest) {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// The worker died while loading rest[got]: that object's report.
		why := "exited without a report"
		var ee *exec.ExitError
		if errors.As(werr, &ee) {
			why = ee.ProcessState.String()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				why += " (the kernel's OOM killer, if the console says so)"
			}
		}
		reps = append(reps, object.ObjectReport{
			Path:  rest[got],
			Error: fmt.Sprintf("load %s: the loader process died on it: %s", rest[got], why),
			Stack: errTail.String(),
		})
	}
	return reps, nil
}

// tailBuffer keeps the last 64 KiB written to it: a worker's stderr, whose
// end holds a fatal error's stacks.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	const max = 64 << 10
	t.b = append(t.b, p...)
	if len(t.b) > max {
		t.b = t.b[len(t.b)-max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
