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
	// Stable is the stable release the kernel was built from (6.1.192),
	// zero when unknown; it decides the case's backports
	// (bpf.Case.Backports). Debian's `uname -r` (6.1.0-57-cloud-amd64)
	// does not carry it: RunningKernel reads it from /proc/version.
	Stable catalog.Version
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

// CaseSpec returns the collection a case loads from, and the program to
// judge, as kernel k is to see it (specFixups may depend on k's version).
func CaseSpec(c bpf.Case, k Kernel) (*ebpf.CollectionSpec, string, error) {
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
		if err := fix(spec, k); err != nil {
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
				spec, prog, err := CaseSpec(c, k)
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

// Expectation is what a kernel should do with a corpus case, and why.
type Expectation struct {
	// Accept: the kernel should accept the case.
	Accept bool
	// Why is the sentence the outcome's finding quotes.
	Why string
	// Reason is set where the expectation is more than "the kernel is new
	// enough": version, config or arch when Accept is false; backport, or
	// arch for a tracing program that loads but cannot be attached, when
	// Accept is true. Nil for a negative case.
	Reason *result.Reason
	// Before is the pattern the log of a kernel that predates the case
	// must match (the case's Before), when the reason is its version.
	Before string
	// JIT: the verifier takes the case and the architecture's JIT does
	// not, so the load must fail with ENOTSUPP.
	JIT bool
}

// Expect says whether kernel k should accept case c, and why.
func Expect(c bpf.Case, k Kernel) (bool, string) {
	e := ExpectCase(c, k)
	return e.Accept, e.Why
}

// ExpectCase says what kernel k should do with case c: accept it from the
// version that introduced it on k's architecture (bpf.Case.For), or from
// the stable release of k's series that took it (bpf.Case.Backports, read
// from Kernel.Stable), given its config. A backport into the verifier of
// a series whose JIT on k's architecture cannot compile the instruction is
// an arch reason (JIT set). A tracing case accepted on an architecture
// that attaches it only from a later release (bpf.Case.Attach) is expected
// to load, with an arch reason saying it cannot be attached.
func ExpectCase(c bpf.Case, k Kernel) Expectation {
	if c.Expect == bpf.ExpectReject {
		return Expectation{Why: "negative case: every kernel rejects it"}
	}
	arch := string(k.Arch)
	first := c.For(arch)
	since, err := catalog.ParseVersion(first.Since)
	if err != nil {
		return Expectation{Why: err.Error()}
	}
	on := ""
	if first.Since != c.Since {
		on = " on " + arch
	}
	series := k.Version.Mainline()
	if k.Version.Less(since) {
		if b, ok := c.BackportFor(series.String(), arch); ok && k.hasStable(b.Stable) {
			if e, ok := k.configMissing(c); ok {
				return e
			}
			return Expectation{Accept: true,
				Why: fmt.Sprintf("stable %s took %s %q (a backport from %s), kernel is %s", b.Stable, c.Commit, b.Subject, c.Since, k.Stable),
				Reason: &result.Reason{Kind: result.ReasonBackport, Version: b.Stable, Commit: c.Commit,
					Detail: fmt.Sprintf("stable %s took %s (%q) from %s", b.Stable, shortCommit(c.Commit), b.Subject, c.Since)}}
		}
		if b, ok := c.BackportElsewhere(series.String(), arch); ok && k.hasStable(b.Stable) {
			// The backport is the verifier's half only: the other
			// architectures' JITs of the series have no encoding.
			return Expectation{JIT: true,
				Why: fmt.Sprintf("stable %s took the verifier half of %s %q, but the %s JIT of %s lacks the instruction (ENOTSUPP)", b.Stable, c.Commit, b.Subject, arch, series),
				Reason: &result.Reason{Kind: result.ReasonArch, Version: first.Since, Commit: first.Commit,
					Detail: fmt.Sprintf("the %s JIT lacks the instruction: ENOTSUPP (524), although stable %s took the verifier half of %s", arch, b.Stable, shortCommit(c.Commit))}}
		}
		r := &result.Reason{Kind: result.ReasonVersion, Version: first.Since, Commit: first.Commit,
			Detail: fmt.Sprintf("%s %q", shortCommit(first.Commit), first.Subject)}
		before := c.Before
		if on != "" && !k.Version.Less(mustVersion(c.Since)) {
			// Mainline has it, this architecture gained it later.
			r.Kind, before = result.ReasonArch, ""
		}
		return Expectation{Why: fmt.Sprintf("needs %s%s (%s %q), kernel is %s", first.Since, on, first.Commit, first.Subject, k.Version),
			Reason: r, Before: before}
	}
	if e, ok := k.configMissing(c); ok {
		return e
	}
	e := Expectation{Accept: true, Why: fmt.Sprintf("kernel %s >= %s%s", k.Version, first.Since, on)}
	if a, ok := c.AttachFor(arch); ok {
		if av, err := catalog.ParseVersion(a.Since); err == nil && k.Version.Less(av) {
			e.Why += fmt.Sprintf("; loads, but cannot be attached on %s before %s", arch, a.Since)
			e.Reason = &result.Reason{Kind: result.ReasonArch, Version: a.Since, Commit: a.Commit,
				Detail: fmt.Sprintf("loads, cannot attach: %s attaches it from %s (%s %q)", arch, a.Since, shortCommit(a.Commit), a.Subject)}
		}
	}
	return e
}

// configMissing returns the expectation for a kernel whose config lacks an
// option c needs.
func (k Kernel) configMissing(c bpf.Case) (Expectation, bool) {
	if k.Config != nil {
		for _, opt := range c.Config {
			if v := k.Config[opt]; v == "" || v == "n" {
				return Expectation{Why: fmt.Sprintf("needs %s, not set in the kernel config", opt),
					Reason: &result.Reason{Kind: result.ReasonConfig, Config: opt, Version: c.Since, Commit: c.Commit}}, true
			}
		}
	}
	// A case the interpreter cannot run (bpf.Case.JIT: callbacks, kfuncs,
	// extensions...) needs the JIT built in and switched on.
	if why := k.NoJIT(); c.JIT && why != "" {
		return Expectation{Why: "needs the JIT: " + why,
			Reason: &result.Reason{Kind: result.ReasonConfig, Config: "CONFIG_BPF_JIT", Detail: "needs the JIT: " + why}}, true
	}
	return Expectation{}, false
}

// hasStable reports whether k's stable release is stable or later; an
// unknown stable release (zero) has no backport.
func (k Kernel) hasStable(stable string) bool {
	v, err := catalog.ParseVersion(stable)
	return err == nil && k.Stable != (catalog.Version{}) && !k.Stable.Less(v)
}

func mustVersion(s string) catalog.Version {
	v, _ := catalog.ParseVersion(s)
	return v
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// Judge sets o.Expected and o.Reason and, when the outcome contradicts the
// expectation, o.Finding with a log excerpt. Inconclusive outcomes are
// never findings. A kernel that predates a case must reject it with the
// case's Before pattern, where one is known, and a JIT that lacks an
// instruction must answer ENOTSUPP: anything else is a finding too.
func Judge(c bpf.Case, o *result.VerifierOutcome, k Kernel) {
	e := ExpectCase(c, k)
	want, why := e.Accept, e.Why
	o.Expected = &want
	o.Reason = e.Reason
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
	case e.Before != "" && !LogMatches(*o, e.Before):
		o.Finding = fmt.Sprintf("rejected as expected (%s), but not with /%s/:\n%s", why, e.Before, excerptOf(*o))
	case e.JIT && o.Errno != "ENOTSUPP":
		o.Finding = fmt.Sprintf("rejected as expected (%s), but not with ENOTSUPP:\n%s", why, excerptOf(*o))
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
