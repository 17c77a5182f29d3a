package needs

import (
	"compress/gzip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

func extract(t testing.TB, path string) map[string]Program {
	t.Helper()
	spec, err := ebpf.LoadCollectionSpec(path)
	require.NoError(t, err)
	progs, err := Extract(spec)
	require.NoError(t, err)
	out := map[string]Program{}
	for _, p := range progs {
		out[p.Name] = p
	}
	return out
}

func find(p Program, kind result.Kind, name string) (Requirement, bool) {
	for _, r := range p.Requirements {
		if r.Kind == kind && r.Name == name {
			return r, true
		}
	}
	return Requirement{}, false
}

// TestExtract: what the committed objects' C sources say they use (see the
// comments there), found from the objects alone, with source lines.
func TestExtract(t *testing.T) {
	const dir = "../../tests/testdata/objects/"
	type want struct {
		kind     result.Kind
		name     string
		version  string
		line     string // file:line of the first use; "" for none
		advisory bool
	}
	tests := []struct {
		object, program, typ, minimum string
		want                          []want
		absent                        []string
	}{
		{"loop.o", "sum_loop", "xdp", "5.17", []want{
			{result.KindProgramType, "xdp", "4.8", "", false},
			{result.KindHelper, "bpf_loop", "5.17", "loop.c:30", false},
			{result.KindMisc, "callbacks", "5.13", "loop.c:30", false},
			{result.KindMisc, "global_data", "5.2", "loop.c:31", false},
			{result.KindMapType, "array", "3.19", "loop.c:31", false},
			{result.KindAttachType, "xdp", "5.9", "", true},
		}, []string{"bpf_strncmp"}},
		{"loop.o", "match_comm", "xdp", "5.17", []want{
			{result.KindHelper, "bpf_strncmp", "5.17", "loop.c:42", false},
			{result.KindMisc, "map_flag_rdonly_prog", "5.2", "loop.c:42", false},
		}, []string{"bpf_loop", "callbacks"}},
		{"libbpf_style.o", "kprobe_unlink", "kprobe", "5.5", []want{
			{result.KindHelper, "bpf_get_current_task", "4.8", "libbpf_style.c:36", false},
			{KindCORE, "byte_off", "", "libbpf_style.c:36", true},
			{result.KindMisc, "kernel_btf", "5.4", "libbpf_style.c:36", false},
			{result.KindMapType, "hash", "3.19", "libbpf_style.c:44", false},
		}, nil},
		{"libbpf_style.o", "fentry_unlink", "tracing", "5.5", []want{
			{result.KindAttachType, "trace_fentry", "5.5", "", false},
			{result.KindMisc, "trampolines", "5.5", "", false},
		}, nil},
		{"libbpf_style.o", "xdp_entry", "xdp", "5.6", []want{
			{result.KindMisc, "bpf_to_bpf_calls", "4.16", "libbpf_style.c:69", false},
			{result.KindMisc, "global_functions", "5.6", "libbpf_style.c:59", false},
		}, nil},
		{"complexity.o", "too_large", "xdp", "5.3", []want{
			{result.KindMisc, "bounded_loops", "5.3", "complexity.c:25", false},
		}, nil},
		{"never.o", "count_unchecked", "xdp", "4.8", []want{
			{result.KindHelper, "bpf_map_lookup_elem", "3.19", "never.c:22", false},
		}, []string{"bounded_loops"}},
	}
	for _, tc := range tests {
		t.Run(tc.object+"/"+tc.program, func(t *testing.T) {
			p, ok := extract(t, dir+tc.object)[tc.program]
			require.True(t, ok)
			assert.Equal(t, tc.typ, p.Type)
			assert.Equal(t, tc.minimum, p.Minimum)
			for _, w := range tc.want {
				r, ok := find(p, w.kind, w.name)
				if !assert.True(t, ok, "%s/%s missing: %+v", w.kind, w.name, p.Requirements) {
					continue
				}
				assert.Equal(t, w.version, r.Version, w.name)
				assert.Equal(t, w.advisory, r.Advisory, w.name)
				if w.line == "" {
					assert.Nil(t, r.Source, w.name)
				} else if assert.NotNil(t, r.Source, w.name) {
					assert.Equal(t, w.line, r.Source.String(), w.name)
				}
			}
			for _, name := range tc.absent {
				for _, r := range p.Requirements {
					assert.NotEqual(t, name, r.Name)
				}
			}
		})
	}
}

func TestExtractUnloadable(t *testing.T) {
	p := extract(t, "../../tests/testdata/objects/custom_section.o")["custom_prog"]
	m, ok := Explain(p, Kernel{Name: "debian-6.12"})
	require.True(t, ok)
	assert.Equal(t, BasisObject, m.Basis)
	assert.Contains(t, m.String(), `section "my_custom_section" names no program type`)
}

func TestExtractManyPrograms(t *testing.T) {
	progs := extract(t, "testdata/many.o")
	require.Len(t, progs, 100)
	p := progs["prog_8"]
	for _, name := range []string{"atomics", "callbacks", "bounded_loops", "global_data", "map_flag_no_prealloc", "v3_isa_extension"} {
		_, ok := find(p, result.KindMisc, name)
		assert.True(t, ok, name)
	}
	_, ok := find(p, result.KindMapType, "ringbuf")
	assert.True(t, ok)
	_, ok = find(progs["prog_1"], result.KindHelper, "bpf_loop")
	assert.False(t, ok, "prog_1 does not call bpf_loop")
}

// publishedKernels reads the matrix captured from `bpfmatrix run --kernels
// debian-5.10,debian-6.1,debian-6.12` (tests/testdata).
func publishedKernels(t *testing.T) []Kernel {
	t.Helper()
	f, err := os.Open("../../tests/testdata/needs-matrix.json.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	m, err := matrix.Decode(zr)
	require.NoError(t, err)
	ks, err := MatrixKernels(m)
	require.NoError(t, err)
	return ks
}

// TestExplain: explanations from a real matrix, by probe result where the
// matrix has one and by version where it has none.
func TestExplain(t *testing.T) {
	ks := publishedKernels(t)
	require.Len(t, ks, 3)
	loop := extract(t, "../../tests/testdata/objects/loop.o")
	tests := []struct {
		program, kernel string
		want            string
		basis           Basis
	}{
		{"sum_loop", "debian-5.10", "calls bpf_loop (5.17, e6f2dd0f8067) at loop.c:30; debian-5.10 lacks it", BasisProbed},
		{"match_comm", "debian-5.10", "calls bpf_strncmp (5.17, c5fb19937455) at loop.c:42; debian-5.10 lacks it", BasisProbed},
		{"sum_loop", "debian-6.1", "", ""},
		{"match_comm", "debian-6.12", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.program+"/"+tc.kernel, func(t *testing.T) {
			var k Kernel
			for _, c := range ks {
				if c.Name == tc.kernel {
					k = c
				}
			}
			require.Equal(t, tc.kernel, k.Name)
			m, ok := Explain(loop[tc.program], k)
			if tc.want == "" {
				assert.False(t, ok, "%s", m)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tc.want, m.String())
			assert.Equal(t, tc.basis, m.Basis)
		})
	}
	// Without probe results the version decides, and says the same.
	k := ks[0]
	k.Features, k.Config = nil, nil
	m, ok := Explain(loop["sum_loop"], k)
	require.True(t, ok)
	assert.Equal(t, BasisVersion, m.Basis)
	assert.Equal(t, "bpf_loop", m.Requirement.Name)
}

// TestExplainForCheck is the call check and repro make for a rejected
// program: the kernel known by name and version only.
func TestExplainForCheck(t *testing.T) {
	spec, err := ebpf.LoadCollectionSpec("../../tests/testdata/objects/loop.o")
	require.NoError(t, err)
	progs, err := Extract(spec)
	require.NoError(t, err)
	p, ok := Lookup(progs, "sum_loop")
	require.True(t, ok)
	_, ok = Lookup(progs, "nope")
	assert.False(t, ok)
	k, err := KernelFromInfo(result.Kernel{Name: "debian-5.10", Version: "5.10"})
	require.NoError(t, err)
	m, ok := Explain(p, k)
	require.True(t, ok)
	assert.Equal(t, "calls bpf_loop (5.17, e6f2dd0f8067) at loop.c:30; debian-5.10 lacks it", m.String())
	_, err = KernelFromInfo(result.Kernel{Name: "x", Version: "nope"})
	assert.Error(t, err)
}

// TestExtractMaps: every map of an object, used by a program or not.
func TestExtractMaps(t *testing.T) {
	spec, err := ebpf.LoadCollectionSpec("../../tests/testdata/objects/maps_only.o")
	require.NoError(t, err)
	maps, err := ExtractMaps(spec)
	require.NoError(t, err)
	require.Len(t, maps, 2)
	assert.Equal(t, "arena", maps[0].Name)
	assert.Equal(t, "arena", maps[0].Type)
	assert.Equal(t, "6.9", maps[0].Minimum)
	_, ok := find(Program{Requirements: maps[0].Requirements}, result.KindMisc, "mmapable_arrays")
	assert.True(t, ok, "BPF_F_MMAPABLE")
	assert.Equal(t, "counters", maps[1].Name)
	assert.Equal(t, "3.19", maps[1].Minimum)

	k, err := KernelFromInfo(result.Kernel{Name: "debian-6.1", Version: "6.1"})
	require.NoError(t, err)
	m, ok := ExplainMap(maps[0], k)
	require.True(t, ok)
	assert.Equal(t, "map arena has type arena (6.9, 317460317a02); debian-6.1 lacks it", m.String())
	_, ok = ExplainMap(maps[1], k)
	assert.False(t, ok)
}

// TestCorpusPredictions holds predictions to the verifier corpus's real
// loads in the published matrix (bpf/corpus, loaded by `bpfmatrix run` on
// debian-5.10, 6.1 and 6.12): a case a kernel accepted lacks nothing there,
// and a case rejected on one kernel and accepted on another is explained
// by a requirement the first lacks. The matrix's own probe results are
// left out, so that the table's versions and configs answer alone, and
// then put back.
func TestCorpusPredictions(t *testing.T) {
	f, err := os.Open("../../tests/testdata/needs-matrix.json.gz")
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err)
	m, err := matrix.Decode(zr)
	require.NoError(t, err)

	type outcome struct {
		accepted, inconclusive bool
		summary                string
	}
	real := map[string]map[string]outcome{} // case -> kernel -> outcome
	programs := map[string]string{}
	for _, k := range m.Kernels {
		for _, v := range k.Verifier {
			if real[v.Case] == nil {
				real[v.Case] = map[string]outcome{}
			}
			real[v.Case][k.Kernel.Name] = outcome{v.Accepted, v.Inconclusive != "", v.Summary}
			programs[v.Case] = v.Program
		}
	}
	probed, err := MatrixKernels(m)
	require.NoError(t, err)
	var versionOnly []Kernel
	for _, k := range probed {
		versionOnly = append(versionOnly, Kernel{Name: k.Name, Version: k.Version, Config: k.Config})
	}

	// The feature each kernel's message is about.
	names := map[string]string{
		"atomic_fetch_add/debian-5.10":  "atomics",           // BPF_STX uses reserved fields
		"for_each_map_elem/debian-5.10": "callbacks",         // func_info does not match subprogs: the callback
		"kfunc_call/debian-6.1":         "bpf_rcu_read_lock", // kfunc not supported
		"kptr/debian-6.1":               "bpf_task_acquire",
		"dynptr/debian-5.10":            "bpf_ringbuf_reserve_dynptr", // invalid func unknown#198
		"task_storage/debian-5.10":      "task_storage",               // map create: invalid argument
		"user_ringbuf/debian-5.10":      "user_ringbuf",               // map create: invalid argument
		"syscall_prog/debian-5.10":      "syscall",
		"arena/debian-6.1":              "arena",
	}
	checked, explained := 0, 0
	for _, kernels := range [][]Kernel{versionOnly, probed} {
		for name, byKernel := range real {
			path := "../../bpf/corpus/" + name + ".o"
			if _, err := os.Stat(path); err != nil {
				continue // an asm case, built in internal/verifier
			}
			p, ok := extract(t, path)[programs[name]]
			require.True(t, ok, "%s: no program %q", name, programs[name])
			acceptedSomewhere := false
			for _, o := range byKernel {
				acceptedSomewhere = acceptedSomewhere || o.accepted
			}
			for _, k := range kernels {
				o := byKernel[k.Name]
				if o.inconclusive {
					continue
				}
				checked++
				miss, lacks := Explain(p, k)
				switch {
				case o.accepted:
					assert.False(t, lacks, "%s on %s: accepted, predicted: %s", name, k.Name, miss)
				case acceptedSomewhere:
					if assert.True(t, lacks, "%s on %s: rejected (%s) but accepted elsewhere; nothing predicted", name, k.Name, o.summary) {
						explained++
						if want, ok := names[name+"/"+k.Name]; ok {
							assert.Equal(t, want, miss.Requirement.Name, "%s on %s: %s", name, k.Name, miss)
						}
					}
				}
			}
		}
	}
	t.Logf("%d cells checked, %d rejections explained", checked, explained)
	assert.Greater(t, checked, 200)
	assert.Equal(t, 2*21, explained, "the C cases rejected on some kernels only, both ways")
}

// TestExplainer: the calls check and repro make, with the kernel as check
// reports it.
func TestExplainer(t *testing.T) {
	for _, tc := range []struct {
		object, kind, name, kernel, version, want string
	}{
		{"loop.o", "program", "sum_loop", "debian-5.10", "5.10", "calls bpf_loop (5.17, e6f2dd0f8067) at loop.c:30; debian-5.10 lacks it"},
		{"loop.o", "program", "match_comm", "debian-5.10", "5.10", "calls bpf_strncmp (5.17, c5fb19937455) at loop.c:42; debian-5.10 lacks it"},
		{"loop.o", "program", "sum_loop", "debian-6.1", "6.1", ""},
		{"never.o", "program", "count_unchecked", "debian-6.1", "6.1", ""}, // a missing NULL check is no feature
		{"maps_only.o", "map", "arena", "debian-6.1", "6.1", "map arena has type arena (6.9, 317460317a02); debian-6.1 lacks it"},
		{"maps_only.o", "map", "counters", "debian-5.10", "5.10", ""},
		{"loop.o", "program", "nope", "debian-5.10", "5.10", ""},
		{"loop.o", "program", "sum_loop", "debian-5.10", "", ""}, // no version: no guess
	} {
		t.Run(tc.object+"/"+tc.name+"/"+tc.kernel, func(t *testing.T) {
			spec, err := ebpf.LoadCollectionSpec("../../tests/testdata/objects/" + tc.object)
			require.NoError(t, err)
			e, err := NewExplainer(spec)
			require.NoError(t, err)
			k := result.Kernel{Name: tc.kernel, Version: tc.version}
			var got string
			var ok bool
			if tc.kind == "map" {
				got, ok = e.Map(tc.name, k)
			} else {
				got, ok = e.Program(tc.name, k)
			}
			assert.Equal(t, tc.want != "", ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestModuleNeeded: a kfunc or struct_ops type a kernel's module index
// names is that module's need, first use first; predictions carry it.
func TestModuleNeeded(t *testing.T) {
	kfunc := Requirement{Kind: KindKfunc, Name: "bpf_xdp_ct_lookup", Why: "calls kfunc bpf_xdp_ct_lookup (its first release is not in the features table)",
		Source: &Source{File: "ct.c", Line: 30}, Advisory: true}
	ops := Requirement{Kind: KindStructOps, Name: "hid_bpf_ops", Why: "map ops is a struct_ops map of hid_bpf_ops", Advisory: true}
	mods := Modules{Kfuncs: map[string]string{"bpf_xdp_ct_lookup": "nf_conntrack"}, StructOps: map[string]string{"hid_bpf_ops": "hid"}}
	for _, tc := range []struct {
		name   string
		reqs   []Requirement
		mods   Modules
		module string
		text   string
	}{
		{"kfunc", []Requirement{kfunc}, mods, "nf_conntrack",
			"needs module nf_conntrack: calls kfunc bpf_xdp_ct_lookup at ct.c:30, defined in module nf_conntrack"},
		{"struct_ops", []Requirement{ops, kfunc}, mods, "hid",
			"needs module hid: map ops is a struct_ops map of hid_bpf_ops, registered in module hid"},
		{"built in", []Requirement{kfunc, ops}, Modules{}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := ModuleNeeded(tc.reqs, tc.mods)
			assert.Equal(t, tc.module != "", ok)
			assert.Equal(t, tc.module, n.Module)
			if ok {
				assert.Equal(t, tc.text, n.String())
			}
			prs := Predict(Program{Type: "xdp", Requirements: tc.reqs}, []Kernel{{Name: "k", Modules: &tc.mods}})
			require.Len(t, prs, 1)
			if tc.module == "" {
				assert.Nil(t, prs[0].Module)
				assert.Equal(t, "nothing missing", prs[0].Text)
			} else if assert.NotNil(t, prs[0].Module) {
				assert.Equal(t, tc.text, prs[0].Text)
			}
		})
	}
}

// TestExtractStructOps: the struct_ops type of a struct_ops map and of the
// programs it holds (what a module's struct_ops need is looked up by).
func TestExtractStructOps(t *testing.T) {
	const path = "../../tests/testdata/objects/struct_ops.o"
	for _, name := range []string{"bpfmx_ssthresh", "bpfmx_cong_avoid", "bpfmx_undo_cwnd"} {
		p, ok := extract(t, path)[name]
		require.True(t, ok, name)
		assert.Equal(t, "struct_ops", p.Type)
		r, ok := find(p, KindStructOps, "tcp_congestion_ops")
		require.True(t, ok, "%+v", p.Requirements)
		assert.True(t, r.Advisory)
		assert.Contains(t, r.Why, "implements tcp_congestion_ops.")
	}
	spec, err := ebpf.LoadCollectionSpec(path)
	require.NoError(t, err)
	maps, err := ExtractMaps(spec)
	require.NoError(t, err)
	require.Len(t, maps, 1)
	assert.Equal(t, "bpfmx_cc", maps[0].Name)
	n, ok := ModuleNeeded(maps[0].Requirements, Modules{StructOps: map[string]string{"tcp_congestion_ops": "m"}})
	require.True(t, ok)
	assert.Equal(t, "needs module m: map bpfmx_cc is a struct_ops map of tcp_congestion_ops, registered in module m", n.String())
}

// TestExplainerOldKernel: on a kernel whose config lacks the JIT and BTF
// (a tinyconfig 6.1, built by `kernels build`), the gate is named; with
// the JIT built but switched off, the probed sysctl names it.
func TestExplainerOldKernel(t *testing.T) {
	tiny := map[string]string{"CONFIG_BPF_SYSCALL": "y"}
	for _, tc := range []struct {
		object, name, want string
	}{
		{"../../bpf/corpus/bpf_loop.o", "loop_helper", "; built-6.1 lacks it (needs the JIT: CONFIG_BPF_JIT is not set)"},
		{"../../bpf/corpus/core_field_offset.o", "core_field_offset", "; built-6.1 lacks it (needs kernel BTF: CONFIG_DEBUG_INFO_BTF is not set)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := ebpf.LoadCollectionSpec(tc.object)
			require.NoError(t, err)
			e, err := NewExplainer(spec)
			require.NoError(t, err)
			got, ok := e.ProgramWithConfig(tc.name, result.Kernel{Name: "built-6.1", Version: "6.1"}, tiny)
			require.True(t, ok)
			assert.Contains(t, got, tc.want)
		})
	}
	spec, err := ebpf.LoadCollectionSpec("../../bpf/corpus/bpf_loop.o")
	require.NoError(t, err)
	progs, err := Extract(spec)
	require.NoError(t, err)
	p, ok := Lookup(progs, "loop_helper")
	require.True(t, ok)
	jitOff := &result.Feature{Kind: result.KindSystem, Name: "bpf_jit_enable", Status: result.Supported, Value: "0"}
	m, ok := Explain(p, Kernel{Name: "k", Version: catalog.Version{Major: 6, Minor: 1},
		Config: map[string]string{"CONFIG_BPF_JIT": "y"}, Features: map[string]*result.Feature{jitOff.Key(): jitOff}})
	require.True(t, ok)
	assert.Contains(t, m.String(), "(needs the JIT: net.core.bpf_jit_enable is 0)")
}

// TestExtractWeakKfuncs: cilium/ebpf's kfunc-el.elf (a real object,
// tests/testdata/thirdparty/cilium-ebpf/PROVENANCE). A program that tests
// __weak kfuncs with bpf_ksym_exists loads where they (and kfuncs
// altogether) are missing, as debian-5.10 showed: its kfunc calls decide
// nothing. A plain kfunc call still needs kfuncs (5.13).
func TestExtractWeakKfuncs(t *testing.T) {
	progs := extract(t, "../../tests/testdata/thirdparty/cilium-ebpf/kfunc-el.elf")
	for _, name := range []string{"call_weak_kfunc", "weak_kfunc_missing"} {
		r, ok := find(progs[name], result.KindMisc, "kfuncs")
		require.True(t, ok, name)
		assert.True(t, r.Advisory, "%s: %+v", name, r)
		assert.Contains(t, r.Why, "bpf_ksym_exists", name)
		assert.Equal(t, "5.5", progs[name].Minimum, "%s: tp_btf decides", name)
	}
	r, ok := find(progs["call_kfunc"], result.KindMisc, "kfuncs")
	require.True(t, ok)
	assert.False(t, r.Advisory)
	assert.Equal(t, "5.13", r.Version)
}

// TestExtractLoadTimeBranches: a helper called only in a branch the
// verifier never walks on a kernel without it decides nothing; one called
// where a .rodata filter merely returns early does. Real objects (bcc's
// libbpf-tools), as debian-5.10 loaded them: ksnoop and opensnoop
// accepted, filelife rejected for bpf_get_current_task_btf.
func TestExtractLoadTimeBranches(t *testing.T) {
	const dir = "../../tests/testdata/thirdparty/libbpf-tools/"
	tests := []struct {
		object, program, helper string
		advisory                bool
		liveFrom                string
	}{
		// if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_func_ip))
		{"ksnoop.bpf.o", "kprobe_entry", "bpf_get_func_ip", true, "5.15"},
		// if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_check_mtu))
		// (5.12): from there a raw_tp program's call is walked, and 6.1 and
		// 6.12 refuse it (bpf_get_socket_cookie is not offered to raw_tp).
		{"tcppktlat.bpf.o", "tcp_probe", "bpf_get_socket_cookie", true, "5.12"},
		// if (full_path && ...), full_path false in .rodata
		{"opensnoop.bpf.o", "tracepoint__syscalls__sys_exit_openat", "bpf_get_current_task_btf", true, ""},
		// if (targ_tgid && targ_tgid != tgid) return 0; then the call
		{"filelife.bpf.o", "vfs_create", "bpf_get_current_task_btf", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.object+"/"+tc.program, func(t *testing.T) {
			p, ok := extract(t, dir+tc.object)[tc.program]
			require.True(t, ok)
			r, ok := find(p, result.KindHelper, tc.helper)
			require.True(t, ok)
			assert.Equal(t, tc.advisory, r.Advisory, "%+v", r)
			assert.Equal(t, tc.liveFrom, r.LiveFrom, "%+v", r)
		})
	}
}
