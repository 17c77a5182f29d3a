package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/object"
	"github.com/bpfmatrix/bpfmatrix/internal/rlimit"
)

func init() { subcommands["load"] = runLoad }

// runLoad loads users' objects into the running kernel: the guest half of
// `bpfmatrix check` and `repro`.
//
//	bpfmatrix-agent load [--json] [--full-log] [--program NAME,...] OBJECT...
//
// --json writes one compact object.LoadReport with every rejected program's
// whole level-2 log in its Log field (the guest's files vanish at power-off).
// --full-log keeps the level-2 log of accepted programs too. Without --json
// it prints a table (for `repro --shell`). A rejected program is data, not a
// failure: the exit status is 0 unless the arguments are wrong (2) or
// nothing could be loaded at all (1).
func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("load", flag.ContinueOnError)
	fl.SetOutput(stderr)
	asJSON := fl.Bool("json", false, "write a compact JSON LoadReport to stdout")
	fullLog := fl.Bool("full-log", false, "keep the level-2 verifier log of accepted programs too")
	programs := fl.String("program", "", "comma-separated program `NAMES` (default all)")
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
	var names []string
	if *programs != "" {
		names = strings.Split(*programs, ",")
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	rep := object.LoadReport{Schema: object.ReportSchema, Release: unix.ByteSliceToString(uts.Release[:])}
	cache := btf.NewCache()
	for _, path := range fl.Args() {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "Error:", ctx.Err())
			return 1
		}
		rep.Objects = append(rep.Objects, object.Load(path, object.LoadOptions{Programs: names, FullLog: *fullLog, Cache: cache}))
	}
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
			case p.Inconclusive != "":
				res, sum = "not loaded", p.Inconclusive
			case p.Accepted:
				res = "accepted"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", o.Path, p.Program, res, p.Insns, sum)
		}
		for _, m := range o.Maps {
			if !m.Created {
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
