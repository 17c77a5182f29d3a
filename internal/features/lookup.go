package features

import "github.com/bpfmatrix/bpfmatrix/internal/result"

func unprobed(name, version, commit string, config ...string) Spec {
	return Spec{Kind: result.KindMisc, Name: name, Value: -1, Version: version, Commit: commit, Config: config}
}

// Unprobed lists features that objects require and no probe measures. The
// versions of the BTF rows are cilium/ebpf's own (btf/feature.go); note that
// cilium/ebpf rewrites BTF it finds unsupported (func linkage, decl and type
// tags, enum64, float) before loading, so for its users those rows say what
// the object contains rather than what a load needs.
var Unprobed = []Spec{
	// BPF_PSEUDO_MAP_VALUE: .data, .rodata and .bss accessed directly.
	unprobed("global_data", "5.2", "d8eca5bbb2be"),
	// BPF_PSEUDO_FUNC: a subprogram's address passed to a helper
	// (bpf_loop, bpf_for_each_map_elem, bpf_timer_set_callback). The
	// interpreter refuses them (fixup_call_args: "callbacks are not
	// allowed in non-JITed programs").
	unprobed("callbacks", "5.13", "", "CONFIG_BPF_JIT"),
	// BPF_PSEUDO_BTF_ID: typed and typeless ksyms.
	unprobed("ksyms", "5.10", "4976b718c355"),
	// BPF_ATOMIC with BPF_FETCH, xchg, cmpxchg, and/or/xor; a plain atomic
	// add (BPF_XADD) is as old as eBPF.
	unprobed("atomics", "5.12", "5ca419f2864a"),
	// BPF_JMP32|BPF_JCOND: may_goto.
	unprobed("may_goto", "6.9", "011832b97b31"),
	unprobed("btf", "4.18", "69b693f0b4c0"),
	unprobed("btf_func_info", "5.0", ""),
	unprobed("btf_datasec", "5.2", ""),
	unprobed("btf_func_linkage", "5.6", ""),
	unprobed("btf_decl_tag", "5.16", ""),
	unprobed("btf_type_tag", "5.17", ""),
	unprobed("btf_enum64", "6.0", ""),
}

// KindKfunc marks rows of Kfuncs: kernel functions called by BTF ID
// (result.KindKfunc, which the guest's kfunc probes report).
const KindKfunc = result.KindKfunc

func kfunc(name, version, commit string) Spec {
	return Spec{Kind: KindKfunc, Name: name, Value: -1, Version: version, Commit: commit, Config: []string{"CONFIG_DEBUG_INFO_BTF", "CONFIG_BPF_JIT"}}
}

// Kfuncs are the kfuncs whose first release is known here: those the
// verifier corpus calls, with the release and commit bpf/manifest.json
// cites (bpf_task_acquire's commit is not cited there). A kfunc not listed
// has no version: callers say so rather than guess.
var Kfuncs = []Spec{
	kfunc("bpf_rcu_read_lock", "6.2", "9bb00b2895cb"),
	kfunc("bpf_rcu_read_unlock", "6.2", "9bb00b2895cb"),
	kfunc("bpf_task_acquire", "6.2", ""),
	kfunc("bpf_task_release", "6.2", ""),
	kfunc("bpf_dynptr_from_skb", "6.4", "b5964b968ac6"),
	kfunc("bpf_iter_num_new", "6.4", "6018e1f407cc"),
	kfunc("bpf_iter_num_next", "6.4", "6018e1f407cc"),
	kfunc("bpf_iter_num_destroy", "6.4", "6018e1f407cc"),
	kfunc("bpf_arena_alloc_pages", "6.9", "317460317a02"),
	kfunc("bpf_arena_free_pages", "6.9", "317460317a02"),
}

type key struct {
	kind result.Kind
	name string
}

// index maps kind/name to Spec for every table, helpers included.
var index = func() map[key]Spec {
	m := map[key]Spec{}
	add := func(s Spec) { m[key{s.Kind, s.Name}] = s }
	for _, list := range [][]Spec{ProgramTypes, MapTypes, AttachTypes, LinkTypes, MiscFeatures, SystemState, Unprobed, Kfuncs, BTFFeatures, StructOps} {
		for _, s := range list {
			add(s)
		}
	}
	for _, h := range Helpers {
		add(HelperSpec(h))
	}
	return m
}()

// HelperSpec is a helper's row as a Spec.
func HelperSpec(h Helper) Spec {
	return Spec{Kind: result.KindHelper, Name: h.Name, Value: int64(h.ID), Enum: "bpf_func_id", Version: h.Version, Commit: HelperCommits[h.Name]}
}

// Lookup returns the table entry for a feature.
func Lookup(kind result.Kind, name string) (Spec, bool) {
	s, ok := index[key{kind, name}]
	return s, ok
}

// ByValue returns the entry of kind whose kernel enum value is v (program,
// map, attach and link types, helpers).
func ByValue(kind result.Kind, v int64) (Spec, bool) {
	var list []Spec
	switch kind {
	case result.KindProgramType:
		list = ProgramTypes
	case result.KindMapType:
		list = MapTypes
	case result.KindAttachType:
		list = AttachTypes
	case result.KindLinkType:
		list = LinkTypes
	case result.KindHelper:
		if v >= 1 && v <= int64(len(Helpers)) {
			return HelperSpec(Helpers[v-1]), true
		}
		return Spec{}, false
	}
	for _, s := range list {
		if s.Value == v {
			return s, true
		}
	}
	return Spec{}, false
}
