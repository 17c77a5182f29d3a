package verifier

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bpfmatrix/bpfmatrix/bpf"
	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/kconfig"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/cilium/ebpf"
)

// Kernel describes the kernel the corpus is judged against.
type Kernel struct {
	// Version is the mainline major.minor (catalog.ParseVersion of `uname -r`,
	// Mainline).
	Version catalog.Version
	// Config maps CONFIG_ options to their value (y, m, a string). nil means
	// unknown: every option is assumed present.
	Config kconfig.Config
	// Arch is the kernel's architecture as the catalog spells it (x86_64,
	// arm64); it picks a case's per-architecture version (bpf.Case.Arch).
	Arch catalog.Arch
	// JITOff says why programs run in the interpreter when the JIT is
	// built in but off (net.core.bpf_jit_enable is 0: the default on
	// kernels without CONFIG_BPF_JIT_DEFAULT_ON); "" when the JIT is on or
	// the sysctl is unknown. Config tells whether the JIT is built at all.
	JITOff string
}

// NoJIT says why k cannot JIT programs ("" when it can, or nothing says
// it cannot): CONFIG_BPF_JIT not set, or the sysctl that turns it off.
func (k Kernel) NoJIT() string {
	if k.Config != nil {
		if v := k.Config["CONFIG_BPF_JIT"]; v == "" || v == "n" {
			return "CONFIG_BPF_JIT not set in the kernel config"
		}
	}
	return k.JITOff
}

// CorpusOptions select and load the corpus.
type CorpusOptions struct {
	Options
	// Cases limits the run to these case names (nil: all).
	Cases []string
}

// Cases returns the corpus manifest, checked against the asm builders.
func Cases() ([]bpf.Case, error) {
	cases, err := bpf.Cases()
	if err != nil {
		return nil, err
	}
	for _, c := range cases {
		if c.Source == bpf.SourceAsm && asmCases[c.Name] == nil {
			return nil, fmt.Errorf("case %s: no asm builder", c.Name)
		}
	}
	return cases, nil
}

// CaseSpec returns the collection a case loads from, and the program to judge.
func CaseSpec(c bpf.Case) (*ebpf.CollectionSpec, string, error) {
	if c.Source == bpf.SourceAsm {
		build := asmCases[c.Name]
		if build == nil {
			return nil, "", fmt.Errorf("case %s: no asm builder", c.Name)
		}
		return asmSpec(c.Name, build()), c.Name, nil
	}
	obj, err := c.Object()
	if err != nil {
		return nil, "", fmt.Errorf("case %s: %w", c.Name, err)
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(obj))
	if err != nil {
		return nil, "", fmt.Errorf("case %s: parse object: %w", c.Name, err)
	}
	if fix := specFixups[c.Name]; fix != nil {
		if err := fix(spec); err != nil {
			return nil, "", fmt.Errorf("case %s: fix up object: %w", c.Name, err)
		}
	}
	return spec, c.ProgramName(), nil
}

// RunCorpus loads every selected case into the running kernel and judges
// each outcome against k. It returns the outcomes in manifest order and the
// wall time spent. Only a broken corpus (manifest, object) is an error.
//
// Cases are parsed and loaded by one worker per usable CPU
// (runtime.GOMAXPROCS): every load is independent, and while one worker
// waits for the kernel's BTF to be decoded (once, in opts.Cache) the others
// go on with cases that don't need it. A 1-vCPU guest loads them in order.
func RunCorpus(ctx context.Context, k Kernel, opts CorpusOptions) ([]result.VerifierOutcome, time.Duration, error) {
	cases, err := Cases()
	if err != nil {
		return nil, 0, err
	}
	for _, name := range opts.Cases {
		if !slices.ContainsFunc(cases, func(c bpf.Case) bool { return c.Name == name }) {
			return nil, 0, fmt.Errorf("no corpus case %q", name)
		}
	}
	if len(opts.Cases) > 0 {
		cases = slices.DeleteFunc(cases, func(c bpf.Case) bool { return !slices.Contains(opts.Cases, c.Name) })
	}
	o := opts.Options.withCache()
	start := time.Now()
	outs := make([]result.VerifierOutcome, len(cases))
	done := make([]bool, len(cases))
	errs := make([]error, len(cases))
	var next atomic.Int64
	var broken atomic.Bool
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(cases)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(cases) || broken.Load() || ctx.Err() != nil {
					return
				}
				c := cases[i]
				spec, prog, err := CaseSpec(c)
				if err != nil {
					errs[i] = err
					broken.Store(true)
					return
				}
				want, _ := Expect(c, k)
				out := loadProgram(spec, prog, o, !want)
				out.Case = c.Name
				Judge(c, &out, k)
				outs[i], done[i] = out, true
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	if err := ctx.Err(); err != nil {
		n := slices.Index(done, false)
		if n < 0 {
			n = len(outs)
		}
		return outs[:n], took, err
	}
	return outs, took, nil
}

// Expect says whether kernel k should accept case c, and why.
func Expect(c bpf.Case, k Kernel) (bool, string) {
	if c.Expect == bpf.ExpectReject {
		return false, "negative case: every kernel rejects it"
	}
	first := c.For(string(k.Arch))
	since, err := catalog.ParseVersion(first.Since)
	if err != nil {
		return false, err.Error()
	}
	on := ""
	if first.Since != c.Since {
		on = " on " + string(k.Arch)
	}
	if k.Version.Less(since) {
		return false, fmt.Sprintf("needs %s%s (%s %q), kernel is %s", first.Since, on, first.Commit, first.Subject, k.Version)
	}
	if k.Config != nil {
		for _, opt := range c.Config {
			if v := k.Config[opt]; v == "" || v == "n" {
				return false, fmt.Sprintf("needs %s, not set in the kernel config", opt)
			}
		}
	}
	if why := k.NoJIT(); c.JIT && why != "" {
		return false, "needs the JIT: " + why
	}
	return true, fmt.Sprintf("kernel %s >= %s%s", k.Version, first.Since, on)
}

// Judge sets o.Expected and, when the outcome contradicts the expectation,
// o.Finding with a log excerpt. Inconclusive outcomes are never findings.
func Judge(c bpf.Case, o *result.VerifierOutcome, k Kernel) {
	want, why := Expect(c, k)
	o.Expected = &want
	o.Finding = ""
	if o.Inconclusive != "" {
		return
	}
	switch {
	case c.Expect == bpf.ExpectReject && o.Accepted:
		o.Finding = "accepted, but every kernel should reject it (" + c.Capability + ")"
	case c.Expect == bpf.ExpectReject && !LogMatches(*o, c.Message):
		o.Finding = fmt.Sprintf("rejected, but not with /%s/:\n%s", c.Message, excerptOf(*o))
	case c.Expect == bpf.ExpectAccept && want && !o.Accepted:
		o.Finding = fmt.Sprintf("rejected although expected (%s):\n%s", why, excerptOf(*o))
	case c.Expect == bpf.ExpectAccept && !want && o.Accepted:
		o.Finding = "accepted although not expected (" + why + "): a backport, or the case's version is wrong"
	}
}

// LogMatches reports whether the outcome's log (or, without a log, its
// summary) matches the regular expression re.
func LogMatches(o result.VerifierOutcome, re string) bool {
	r, err := regexp.Compile(re)
	if err != nil {
		return false
	}
	return r.MatchString(o.Log) || r.MatchString(o.Summary)
}

func excerptOf(o result.VerifierOutcome) string {
	if o.Log == "" {
		return o.Summary
	}
	return Excerpt(o.Log, 8)
}

// Findings returns the outcomes that carry a finding, as one line each.
func Findings(outs []result.VerifierOutcome) []string {
	var fs []string
	for _, o := range outs {
		if o.Finding != "" {
			first, _, _ := strings.Cut(o.Finding, "\n")
			fs = append(fs, o.Case+": "+first)
		}
	}
	return fs
}
