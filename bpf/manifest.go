package bpf

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

//go:embed manifest.json corpus include
var files embed.FS

// Source says how a case's program is built.
type Source string

const (
	// SourceC: corpus/<name>.c compiled by clang into corpus/<name>.o.
	SourceC Source = "c"
	// SourceAsm: instructions built in Go (internal/verifier), for what clang 14 can't emit.
	SourceAsm Source = "asm"
)

// Expect is what a kernel should do with a case.
type Expect string

const (
	// ExpectAccept: accepted on every kernel at or above Since that has Config, rejected below.
	ExpectAccept Expect = "accept"
	// ExpectReject: rejected by every kernel, with Message in the log.
	ExpectReject Expect = "reject"
)

// Case is one entry of manifest.json.
type Case struct {
	// Name identifies the case; for C cases it is also the file and program name.
	Name   string `json:"name"`
	Source Source `json:"source"`
	// Capability says, in a sentence, what verifier capability the case exercises.
	Capability string `json:"capability"`
	// Since is the mainline kernel version (major.minor) that introduced the
	// capability. For negative cases: the version whose verifier first had the check.
	Since string `json:"since"`
	// Commit is the upstream commit (at least 12 hex digits) that introduced it.
	Commit string `json:"commit"`
	// Subject is the commit's subject line.
	Subject string `json:"subject"`
	// Config lists kernel config options the capability needs (y or m).
	Config []string `json:"config,omitempty"`
	// JIT says the capability needs the JIT: the interpreter refuses it
	// (fixup_call_args in kernel/bpf/verifier.c: "callbacks are not
	// allowed in non-JITed programs", "calling kernel functions are not
	// allowed in non-JITed programs", tail calls from subprograms; an
	// extension's target "should be JITed"). A kernel built without
	// CONFIG_BPF_JIT, or with net.core.bpf_jit_enable at 0 (the default
	// before CONFIG_BPF_JIT_DEFAULT_ON), rejects it whatever its version.
	JIT    bool   `json:"jit,omitempty"`
	Expect Expect `json:"expect"`
	// Message is a regular expression the verifier log must match when the
	// case is rejected as expected (negative cases).
	Message string `json:"message,omitempty"`
	// Before is a regular expression expected in the log (or error) of a
	// kernel older than Since, where known: what a VM test on such a kernel asserts.
	Before string `json:"before,omitempty"`
	// Program names the program to judge when the object holds more than
	// one (freplace's target); default Name.
	Program string `json:"program,omitempty"`
	// CFlags are extra clang flags (e.g. -mcpu=v3 for atomics).
	CFlags []string `json:"cflags,omitempty"`
	// Note is the written reason for any choice in the expectation.
	Note string `json:"note,omitempty"`
	// Arch overrides Since, Commit and Subject on an architecture whose JIT
	// gained the capability in another release than the one Since names.
	Arch []ArchSince `json:"arch,omitempty"`
	// Backports are stable releases of an older series that took the
	// capability (the verifier accepts the case there although the
	// series is older than Since).
	Backports []Backport `json:"backports,omitempty"`
	// Attach lists architectures where a kernel that accepts the program
	// cannot attach it before another release (tracing programs need BPF
	// trampolines, which arm64 attaches only from 6.4): an accepted load
	// there is not a usable program.
	Attach []ArchSince `json:"attach,omitempty"`
}

// Backport is a stable release that took a capability from a later
// mainline release.
type Backport struct {
	// Series is the mainline release the stable branch follows (6.1).
	Series string `json:"series"`
	// Stable is the first stable release with the backport (6.1.72).
	Stable string `json:"stable"`
	// Arch limits the backport to one architecture's JIT, when set.
	Arch    string `json:"arch,omitempty"`
	Subject string `json:"subject"`
}

// BackportFor returns the backport of the case into series on arch, if any.
func (c Case) BackportFor(series, arch string) (Backport, bool) {
	for _, b := range c.Backports {
		if b.Series == series && (b.Arch == "" || b.Arch == arch) {
			return b, true
		}
	}
	return Backport{}, false
}

// BackportElsewhere returns a backport of the case into series that is
// limited to another architecture than arch: the verifier of that series
// takes the case, arch's JIT does not.
func (c Case) BackportElsewhere(series, arch string) (Backport, bool) {
	for _, b := range c.Backports {
		if b.Series == series && b.Arch != "" && b.Arch != arch {
			return b, true
		}
	}
	return Backport{}, false
}

// AttachFor returns the release from which a program the case's kernel
// accepts can also be attached on arch, when that differs from Since.
func (c Case) AttachFor(arch string) (ArchSince, bool) {
	for _, a := range c.Attach {
		if a.Arch == arch {
			return a, true
		}
	}
	return ArchSince{}, false
}

// ArchSince is the first mainline release with a capability on one
// architecture.
type ArchSince struct {
	// Arch is spelled as in the kernel catalog: x86_64 or arm64.
	Arch    string `json:"arch"`
	Since   string `json:"since"`
	Commit  string `json:"commit"`
	Subject string `json:"subject"`
}

// For returns the case's Since, Commit and Subject on arch.
func (c Case) For(arch string) ArchSince {
	for _, a := range c.Arch {
		if a.Arch == arch {
			return a
		}
	}
	return ArchSince{Arch: arch, Since: c.Since, Commit: c.Commit, Subject: c.Subject}
}

// ProgramName returns the program in the object that the case judges.
func (c Case) ProgramName() string {
	if c.Program != "" {
		return c.Program
	}
	return c.Name
}

// Object returns the embedded object file of a C case.
func (c Case) Object() ([]byte, error) {
	if c.Source != SourceC {
		return nil, fmt.Errorf("case %s: no object for source %q", c.Name, c.Source)
	}
	return fs.ReadFile(files, "corpus/"+c.Name+".o")
}

// Files is the embedded corpus: manifest.json, corpus/*.c, corpus/*.o, include/.
func Files() fs.FS { return files }

// Cases parses the embedded manifest.
func Cases() ([]Case, error) {
	raw, err := files.ReadFile("manifest.json")
	if err != nil {
		return nil, err
	}
	return ParseManifest(raw)
}

var (
	nameRe    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	versionRe = regexp.MustCompile(`^[0-9]+\.[0-9]+$`)
	commitRe  = regexp.MustCompile(`^[0-9a-f]{12,40}$`)
)

// ParseManifest decodes and validates a manifest: unknown keys, duplicate
// names, a missing version, commit or subject, and bad regular expressions
// are errors.
func ParseManifest(raw []byte) ([]Case, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var m struct {
		Cases []Case `json:"cases"`
	}
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	seen := map[string]bool{}
	for _, c := range m.Cases {
		if err := c.validate(); err != nil {
			return nil, fmt.Errorf("parse manifest: case %q: %w", c.Name, err)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("parse manifest: case %q: duplicate name", c.Name)
		}
		seen[c.Name] = true
	}
	return m.Cases, nil
}

func (c Case) validate() error {
	switch {
	case !nameRe.MatchString(c.Name):
		return fmt.Errorf("bad name")
	case c.Source != SourceC && c.Source != SourceAsm:
		return fmt.Errorf("source %q is neither c nor asm", c.Source)
	case c.Capability == "":
		return fmt.Errorf("no capability")
	case !versionRe.MatchString(c.Since):
		return fmt.Errorf("since %q is not a major.minor version", c.Since)
	case !commitRe.MatchString(c.Commit):
		return fmt.Errorf("commit %q is not 12-40 lower-case hex digits", c.Commit)
	case c.Subject == "":
		return fmt.Errorf("no commit subject")
	case c.archErr() != nil:
		return c.archErr()
	case c.Expect != ExpectAccept && c.Expect != ExpectReject:
		return fmt.Errorf("expect %q is neither accept nor reject", c.Expect)
	case c.Expect == ExpectReject && c.Message == "":
		return fmt.Errorf("negative case without the expected verifier message")
	case c.Source == SourceAsm && len(c.CFlags) > 0:
		return fmt.Errorf("cflags on an asm case")
	}
	for _, b := range c.Backports {
		if !versionRe.MatchString(b.Series) || !strings.HasPrefix(b.Stable, b.Series+".") || b.Subject == "" {
			return fmt.Errorf("backport %+v: needs a series, a stable release of it and a subject", b)
		}
	}
	for _, a := range c.Attach {
		if !versionRe.MatchString(a.Since) || !commitRe.MatchString(a.Commit) || (a.Arch != "x86_64" && a.Arch != "arm64") {
			return fmt.Errorf("attach %+v: needs an arch, a major.minor version and a commit", a)
		}
	}
	for _, re := range []string{c.Message, c.Before} {
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("bad regular expression: %w", err)
		}
	}
	for _, o := range c.Config {
		if !strings.HasPrefix(o, "CONFIG_") {
			return fmt.Errorf("config option %q lacks the CONFIG_ prefix", o)
		}
	}
	return nil
}

// archErr validates the per-architecture entries like the case's own.
func (c Case) archErr() error {
	seen := map[string]bool{}
	for _, a := range c.Arch {
		switch {
		case a.Arch != "x86_64" && a.Arch != "arm64":
			return fmt.Errorf("arch %q is neither x86_64 nor arm64", a.Arch)
		case seen[a.Arch]:
			return fmt.Errorf("arch %s: listed twice", a.Arch)
		case !versionRe.MatchString(a.Since):
			return fmt.Errorf("arch %s: since %q is not a major.minor version", a.Arch, a.Since)
		case !commitRe.MatchString(a.Commit):
			return fmt.Errorf("arch %s: commit %q is not 12-40 lower-case hex digits", a.Arch, a.Commit)
		case a.Subject == "":
			return fmt.Errorf("arch %s: no commit subject", a.Arch)
		}
		seen[a.Arch] = true
	}
	return nil
}
