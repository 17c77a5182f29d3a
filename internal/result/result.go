package result

import "time"

// SchemaVersion is bumped on every incompatible change to the types below.
const SchemaVersion = 1

// Status is the outcome of a probe.
type Status string

const (
	Supported    Status = "supported"
	Unsupported  Status = "unsupported"
	Inconclusive Status = "inconclusive"
	// Present: the kernel declares the feature (a member of one of its BTF
	// enums) and no probe could judge it, so it is neither a yes nor a no.
	// Value says what was seen. A gate must not count it as supported.
	// Adding it kept SchemaVersion: readers of older matrices never meet it.
	Present Status = "present"
)

// Kind groups features in the matrix.
type Kind string

const (
	KindProgramType Kind = "program_type"
	KindMapType     Kind = "map_type"
	KindHelper      Kind = "helper"
	KindAttachType  Kind = "attach_type"
	KindLinkType    Kind = "link_type"
	KindMisc        Kind = "misc"
	KindSystem      Kind = "system"
	// KindObserve: attach and observe (internal/observe). Each hook family
	// has three rows, NAME.attached, NAME.fired and NAME.delivered, and the
	// delivery bursts one row each (ringbuf.burst, perf_buffer.burst) with
	// their counts in Value.
	KindObserve Kind = "observe"
	// KindKfunc: a kernel function the kernel's BTF lists as a kfunc. A
	// row without ProgramType is the kernel's own list (status supported
	// when some program type's load got past the call, present when none
	// could); with ProgramType, whether that program type may call it.
	KindKfunc Kind = "kfunc"
	// KindBTF: a BTF feature (a type kind, func linkage, DATASEC names,
	// module BTF), probed by loading a BTF blob as libbpf's FEAT_BTF_*
	// probes do.
	KindBTF Kind = "btf"
	// KindStructOps: a struct_ops type the kernel offers (Name is the
	// type, e.g. tcp_congestion_ops) or, as TYPE.MEMBER, whether that
	// member may be a sleepable program.
	KindStructOps Kind = "struct_ops"
)

// ReasonKind says why a feature is unsupported.
type ReasonKind string

const (
	// ReasonVersion: the kernel is older than the version that introduced the feature.
	ReasonVersion ReasonKind = "version"
	// ReasonConfig: the kernel's config lacks an option the feature needs.
	ReasonConfig ReasonKind = "config"
	// ReasonPrivilege: the probe lacked a capability or was blocked by lockdown.
	ReasonPrivilege ReasonKind = "privilege"
	// ReasonArch: the feature is not implemented for this architecture (e.g. JIT-only features).
	ReasonArch ReasonKind = "arch"
	// ReasonUnexplained: by version and config it should be there but is not: a finding.
	ReasonUnexplained ReasonKind = "unexplained"
	// ReasonProgramType: the helper (or attach/link type) exists in this
	// kernel but is not offered to this program type, or the program type
	// itself is unsupported (Detail says which).
	ReasonProgramType ReasonKind = "program_type"
	// ReasonBackport: only on a verifier outcome, never an unsupported
	// feature: the kernel's stable series took the capability from a later
	// mainline release (Version is the first stable release with it), so
	// it is expected to accept a case its mainline version predates.
	ReasonBackport ReasonKind = "backport"
)

// Reason explains an Unsupported status.
type Reason struct {
	Kind ReasonKind `json:"kind"`
	// Version is the mainline version that introduced the feature, when known.
	Version string `json:"version,omitempty"`
	// Commit is the upstream commit that introduced it, when known.
	Commit string `json:"commit,omitempty"`
	// Config is the missing (or required) kernel config option, e.g. CONFIG_BPF_LIRC_MODE2.
	Config string `json:"config,omitempty"`
	// Detail is a human-readable sentence.
	Detail string `json:"detail,omitempty"`
	// Probe is the kernel's own reason, from its probe alone, where the
	// cross-kernel pass (matrix.ExplainAcrossKernels) replaced it with what
	// the other kernels of the run show. Kept so that the pass can be run
	// again over another set of kernels (merging shards) with the same
	// result as one run over them all.
	Probe *Reason `json:"probe,omitempty"`
}

// Feature is one probed capability.
type Feature struct {
	Kind Kind   `json:"kind"`
	Name string `json:"name"`
	// ProgramType is set for helpers: the program type the helper was probed with.
	ProgramType string  `json:"program_type,omitempty"`
	Status      Status  `json:"status"`
	Reason      *Reason `json:"reason,omitempty"`
	// Error is the error that made the probe inconclusive.
	Error string `json:"error,omitempty"`
	// Value holds system state (sysctl values, lockdown mode) for KindSystem.
	Value string `json:"value,omitempty"`
	// Finding is set when the outcome contradicts the version and config
	// expectation (e.g. unsupported although the kernel is new enough).
	Finding string `json:"finding,omitempty"`
	// Bpftool is what `bpftool feature probe` claimed, when it disagrees with the load.
	Bpftool string `json:"bpftool,omitempty"`
	// Errno is the kernel's answer where a step failed with one (E2BIG,
	// ENOTSUPP): attach-and-observe rows (KindObserve).
	Errno string `json:"errno,omitempty"`
}

// Key identifies a feature across kernels.
func (f Feature) Key() string {
	if f.ProgramType != "" {
		return string(f.Kind) + "/" + f.ProgramType + "/" + f.Name
	}
	return string(f.Kind) + "/" + f.Name
}

// VerifierOutcome is the result of loading one verifier-corpus case or user program.
type VerifierOutcome struct {
	Case         string `json:"case"`
	Object       string `json:"object,omitempty"`
	Program      string `json:"program,omitempty"`
	Accepted     bool   `json:"accepted"`
	Expected     *bool  `json:"expected,omitempty"`
	Errno        string `json:"errno,omitempty"`
	Summary      string `json:"summary,omitempty"`
	Insns        int    `json:"insns_processed,omitempty"`
	PeakStates   int    `json:"peak_states,omitempty"`
	VerifyTime   string `json:"verification_time,omitempty"`
	LogFile      string `json:"log_file,omitempty"`
	Log          string `json:"log,omitempty"`
	Finding      string `json:"finding,omitempty"`
	Inconclusive string `json:"inconclusive,omitempty"`
	// Reason says why Expected is what it is, where that is more than the
	// kernel being new enough: version or config (a case expected to be
	// rejected), arch (an architecture's JIT lacks it, or the program
	// loads but cannot be attached there: Detail says which), backport (a
	// stable release took it). Corpus cases only.
	Reason *Reason `json:"reason,omitempty"`
}

// Kernel describes the kernel a result was produced on.
type Kernel struct {
	// Name is the catalog name (debian-6.1) or "host" for `bpfmatrix probe`.
	Name string `json:"name"`
	// Release is `uname -r` inside the guest.
	Release string `json:"release"`
	// Version is the mainline version (6.1).
	Version string `json:"version"`
	Arch    string `json:"arch"`
	// Source describes where the kernel came from (debian:bookworm linux-image-... 6.1.158-1).
	Source string `json:"source,omitempty"`
	// PackageVersion is the resolved Debian package version or image digest.
	PackageVersion string `json:"package_version,omitempty"`
	// Digest is the sha256 of the kernel image that was booted.
	Digest string `json:"digest,omitempty"`
}

// KernelResult is everything learned about one kernel.
type KernelResult struct {
	Schema int    `json:"schema"`
	Kernel Kernel `json:"kernel"`
	// Agent identifies the agent build that produced the result (sha256 of its binary).
	Agent string `json:"agent,omitempty"`
	// Config holds the kernel's BPF-related config options (name -> y/m/value).
	Config map[string]string `json:"config,omitempty"`
	// BootTime is the time from starting QEMU to the agent saying hello.
	BootTime Duration `json:"boot_time,omitempty"`
	// ProbeTime is the time spent in probes inside the guest.
	ProbeTime Duration `json:"probe_time,omitempty"`
	// VerifierTime is the time spent loading the verifier corpus.
	VerifierTime Duration `json:"verifier_time,omitempty"`
	// ObserveTime is the time spent attaching and triggering programs
	// (internal/observe), when the run asked for it.
	ObserveTime Duration          `json:"observe_time,omitempty"`
	Features    []Feature         `json:"features,omitempty"`
	Verifier    []VerifierOutcome `json:"verifier,omitempty"`
	// Bpftool records whether the cross-check ran and how many claims disagreed.
	Bpftool *BpftoolCheck `json:"bpftool,omitempty"`
	// Error is set when the kernel could not be fetched, booted or probed.
	// Its column stays in the matrix with this error.
	Error string `json:"error,omitempty"`
	// Cached is true when the result was served from the result cache.
	Cached bool `json:"cached,omitempty"`
}

// BpftoolCheck summarises the cross-check against `bpftool feature probe -j`.
type BpftoolCheck struct {
	Version       string `json:"version,omitempty"`
	Ran           bool   `json:"ran"`
	Error         string `json:"error,omitempty"`
	Disagreements int    `json:"disagreements"`
	// Causes groups the disagreements by what bpftool gets wrong, most
	// cells first; their counts add up to Disagreements.
	Causes []BpftoolCause `json:"causes,omitempty"`
}

// BpftoolCause is one reason bpftool's claims differ from our loads, and
// how many cells it accounts for.
type BpftoolCause struct {
	// Cause is the label recorded in the disagreeing features' Bpftool
	// field ("misread refusal").
	Cause string `json:"cause"`
	// Text says, for a reader, what bpftool gets wrong.
	Text  string `json:"text"`
	Cells int    `json:"cells"`
}

// Matrix is the content of matrix.json.
type Matrix struct {
	Schema    int            `json:"schema"`
	Generated time.Time      `json:"generated"`
	Kernels   []KernelResult `json:"kernels"`
}

// Duration is a time.Duration that marshals as seconds (a JSON number).
type Duration time.Duration
