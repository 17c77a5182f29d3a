package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bpfmatrix/bpfmatrix/internal/probe"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

type probeFlags struct {
	json        bool
	config      string
	bpftool     bool
	bpftoolPath string
	helpers     bool
}

func newProbeCmd(g *globals) *cobra.Command {
	var f probeFlags
	cmd := &cobra.Command{
		Use:   "probe [--json] [--config PATH] [--bpftool]",
		Short: "Probe the running kernel's BPF features directly (no VM; needs root)",
		Long: `Probe the kernel this machine runs, as 'bpftool feature probe' does, with the
same result schema as 'bpfmatrix run': program, map, attach and link types,
helpers per program type, misc features, JIT and lockdown state. Every feature
is supported, unsupported (with a reason: version, config option, privilege,
program type) or inconclusive (with the error).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProbe(cmd, g, f)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.json, "json", false, "write the result as JSON")
	fl.StringVar(&f.config, "config", "", "kernel config file (default: /boot/config-$(uname -r), then /proc/config.gz)")
	fl.BoolVar(&f.bpftool, "bpftool", false, "cross-check against 'bpftool feature probe -j'")
	fl.StringVar(&f.bpftoolPath, "bpftool-path", "bpftool", "bpftool binary for --bpftool")
	fl.BoolVar(&f.helpers, "helpers", false, "list every helper per program type (default: counts)")
	return cmd
}

func runProbe(cmd *cobra.Command, g *globals, f probeFlags) error {
	if !probe.CheckPrivilege() {
		return fmt.Errorf("probe: loading BPF programs needs root (or CAP_BPF with CAP_PERFMON, or CAP_SYS_ADMIN); run it with sudo")
	}
	opts := probe.Options{ConfigPath: f.config}
	if f.bpftool {
		path, err := exec.LookPath(f.bpftoolPath)
		if err != nil {
			return usageError("probe: --bpftool: %v", err)
		}
		opts.BpftoolPath = path
	}
	kr, err := probe.Probe(cmd.Context(), opts)
	if err != nil {
		return err
	}
	if f.json {
		return json.NewEncoder(g.stdout).Encode(kr)
	}
	return writeProbeTable(g.stdout, kr, f.helpers)
}

var probeSections = []struct {
	kind  result.Kind
	title string
}{
	{result.KindSystem, "System"},
	{result.KindProgramType, "Program types"},
	{result.KindMapType, "Map types"},
	{result.KindAttachType, "Attach types"},
	{result.KindLinkType, "Link types"},
	{result.KindMisc, "Misc"},
}

func reasonText(f result.Feature) string {
	switch {
	case f.Status == result.Inconclusive:
		return f.Error
	case f.Reason == nil:
		return f.Value
	}
	r := f.Reason
	s := string(r.Kind)
	switch {
	case r.Kind == result.ReasonVersion:
		s = "introduced in " + r.Version
		if r.Commit != "" {
			s += " (" + r.Commit + ")"
		}
	case r.Kind == result.ReasonConfig:
		s = "needs " + r.Config
		if strings.HasPrefix(r.Detail, "needs ") {
			s = r.Detail // "needs kernel BTF (CONFIG_DEBUG_INFO_BTF)"
		}
	case r.Detail != "":
		s += ": " + r.Detail
	}
	if f.Finding != "" {
		s += " [FINDING]"
	}
	return s
}

func writeProbeTable(w io.Writer, kr *result.KernelResult, allHelpers bool) error {
	c := probe.Counts(kr.Features)
	// Present (declared by the kernel's BTF, judged by no probe) is its
	// own count: adding it to supported would vouch for what was never tried.
	fmt.Fprintf(w, "Kernel %s (%s, %s): %d supported, %d unsupported, %d inconclusive, %d present (not probed) in %.2fs\n",
		kr.Kernel.Release, kr.Kernel.Version, kr.Kernel.Arch,
		c[result.Supported], c[result.Unsupported], c[result.Inconclusive], c[result.Present], kr.ProbeTime.Std().Seconds())
	if kr.Config == nil {
		fmt.Fprintln(w, "Kernel config: not found (pass --config); config reasons cannot be given")
	}
	if b := kr.Bpftool; b != nil {
		if b.Ran {
			fmt.Fprintf(w, "bpftool (%s): %d claims disagree with our loads (ours are ground truth)\n", b.Version, b.Disagreements)
		} else {
			fmt.Fprintf(w, "bpftool: did not run: %s\n", b.Error)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, sec := range probeSections {
		fmt.Fprintf(tw, "\n%s\n", sec.title)
		for _, f := range kr.Features {
			if f.Kind != sec.kind {
				continue
			}
			note := reasonText(f)
			if f.Bpftool != "" {
				note += " (bpftool: " + f.Bpftool + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Name, f.Status, note)
		}
	}
	tw.Flush()
	// Helpers: one line per program type with counts, or every helper.
	type tally struct{ sup, unsup, inc, pres []string }
	byType := map[string]*tally{}
	var order []string
	for _, f := range kr.Features {
		if f.Kind != result.KindHelper {
			continue
		}
		t := byType[f.ProgramType]
		if t == nil {
			t = &tally{}
			byType[f.ProgramType] = t
			order = append(order, f.ProgramType)
		}
		switch f.Status {
		case result.Supported:
			t.sup = append(t.sup, f.Name)
		case result.Unsupported:
			t.unsup = append(t.unsup, f.Name)
		case result.Present:
			t.pres = append(t.pres, f.Name)
		default:
			t.inc = append(t.inc, f.Name+" ("+f.Error+")")
		}
	}
	fmt.Fprintf(w, "\nHelpers per program type (supported / unsupported / inconclusive / present, not probed)\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, pt := range order {
		t := byType[pt]
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\n", pt, len(t.sup), len(t.unsup), len(t.inc), len(t.pres))
	}
	tw.Flush()
	for _, pt := range order {
		t := byType[pt]
		if len(t.inc) > 0 {
			fmt.Fprintf(w, "  %s inconclusive: %s\n", pt, strings.Join(t.inc, ", "))
		}
		if len(t.pres) > 0 {
			fmt.Fprintf(w, "  %s present, not probed: %s\n", pt, strings.Join(t.pres, ", "))
		}
		if allHelpers && len(t.sup) > 0 {
			sort.Strings(t.sup)
			fmt.Fprintf(w, "\n%s helpers:\n  %s\n", pt, strings.Join(t.sup, " "))
		}
	}
	var findings []string
	for _, f := range kr.Features {
		if f.Finding != "" {
			findings = append(findings, f.Finding)
		}
	}
	if len(findings) > 0 {
		fmt.Fprintf(w, "\nFindings (unsupported although version and config say otherwise):\n")
		for _, s := range findings {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	return nil
}
