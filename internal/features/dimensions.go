package features

import "github.com/bpfmatrix/bpfmatrix/internal/result"

// The rows below are the minimum versions of the BTF features and
// struct_ops types the guest's probes report (result.KindBTF,
// result.KindStructOps). Kfuncs are in Kfuncs (lookup.go).

func btfFeature(name, version, commit string) Spec {
	return Spec{Kind: result.KindBTF, Name: name, Value: -1, Version: version, Commit: commit, Config: []string{"CONFIG_BPF_SYSCALL"}}
}

// BTFFeatures are what libbpf's FEAT_BTF_* probes ask of the kernel, each
// answered by loading a BTF blob (BPF_BTF_LOAD) that uses the feature.
var BTFFeatures = []Spec{
	// FEAT_BTF: a lone BTF_KIND_INT.
	btfFeature("btf", "4.18", "69b693f0b4c0"),
	// FEAT_BTF_FUNC: BTF_KIND_FUNC and BTF_KIND_FUNC_PROTO.
	btfFeature("func", "5.0", "2667a2626f4d"),
	// FEAT_BTF_DATASEC: BTF_KIND_VAR and BTF_KIND_DATASEC.
	btfFeature("datasec", "5.2", "1dc92851849c"),
	// FEAT_BTF_GLOBAL_FUNC: a FUNC with BTF_FUNC_GLOBAL linkage.
	btfFeature("func_linkage", "5.6", "51c39bb1d5d1"),
	// FEAT_MODULE_BTF: BPF_OBJ_GET_INFO_BY_FD on a BTF fills name and
	// kernel_btf (module BTF objects have names).
	{Kind: result.KindBTF, Name: "module_btf", Value: -1, Version: "5.11", Commit: "36e68442d1af",
		Config: []string{"CONFIG_DEBUG_INFO_BTF_MODULES"}},
	// FEAT_BTF_FLOAT.
	btfFeature("float", "5.13", "b1828f0b0482"),
	// FEAT_BTF_DECL_TAG (BTF_KIND_TAG, renamed DECL_TAG in 5.16 itself).
	btfFeature("decl_tag", "5.16", "b5ea834dde6b"),
	// FEAT_BTF_TYPE_TAG.
	btfFeature("type_tag", "5.17", "8c42d2fa4eea"),
	// FEAT_BTF_ENUM64.
	btfFeature("enum64", "6.0", "6089fb325cf7"),
	// FEAT_BTF_QMARK_DATASEC: a DATASEC named "?.data" (libbpf names
	// optional sections so). Its kernel commit is not known here; the
	// version is the first release measured to accept it among the
	// catalog's kernels (6.12 yes, 6.1 no): an upper bound.
	btfFeature("qmark_datasec", "6.12", ""),
}

func structOps(name, version, commit string, config ...string) Spec {
	return Spec{Kind: result.KindStructOps, Name: name, Value: -1, Version: version, Commit: commit, Config: config}
}

// StructOps are the struct_ops types whose first release is known here.
// A kernel's own list comes from its BTF (a struct NAME with a value type
// bpf_struct_ops_NAME); a type not listed here is reported without a
// version.
var StructOps = []Spec{
	structOps("tcp_congestion_ops", "5.6", "0baf26b0fcd7", "CONFIG_BPF_JIT", "CONFIG_INET"),
	structOps("bpf_dummy_ops", "5.14", "c196906d50e3", "CONFIG_BPF_JIT", "CONFIG_NET"),
	structOps("hid_bpf_ops", "6.11", "", "CONFIG_HID_BPF"),
	structOps("sched_ext_ops", "6.12", "f0e1a0643a59", "CONFIG_SCHED_CLASS_EXT"),
}
