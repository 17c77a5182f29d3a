// Package features is the one table of BPF features: what the kernel calls
// each one (bpftool's spelling), the mainline release and upstream commit
// that introduced it, the config options it needs and the architectures
// where it came later.
//
// It is data and nothing else, so that both sides read the same numbers:
// the guest's probes (internal/probe) walk ProgramTypes, MapTypes,
// AttachTypes, LinkTypes, MiscFeatures, SystemState and Helpers; host-side
// requirement extraction from users' objects (internal/needs) looks entries
// up with [Lookup], which also answers for [Unprobed]: instruction-set and
// object-format features that a program can require but that no probe
// measures, because the probes' own rows cover what a load decides. An
// empty Commit means the commit is not known here, never "no commit".
package features
