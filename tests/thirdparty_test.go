package tests

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/check"
	"github.com/bpfmatrix/bpfmatrix/internal/object"
)

// Objects nobody here wrote (testdata/thirdparty/*/PROVENANCE): cilium/ebpf's
// own little-endian test objects (clang 14, 17, 22; deliberately broken ones
// among them) and bcc's libbpf-tools built with clang 14.
const (
	ciliumObjects   = "testdata/thirdparty/cilium-ebpf"
	libbpfToolsObjs = "testdata/thirdparty/libbpf-tools"
)

func thirdPartyObjects(t *testing.T) []string {
	t.Helper()
	cilium, err := filepath.Glob(filepath.Join(ciliumObjects, "*-el.elf"))
	require.NoError(t, err)
	require.Len(t, cilium, 30)
	tools, err := filepath.Glob(filepath.Join(libbpfToolsObjs, "*.bpf.o"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(tools), 57)
	return append(cilium, tools...)
}

// checkKernels are the kernels the third-party objects are checked on.
var checkKernels = []string{"debian-5.10", "debian-6.1", "debian-6.12"}

// predictionObjects are the committed objects TestPredictionsMatchRealLoads
// holds to their real loads besides the third-party ones. complexity.o is
// left out: it hits the verifier's limits on every kernel, which no
// feature explains.
func predictionObjects() []string {
	return []string{obj("loop.o"), obj("never.o"), obj("libbpf_style.o"), obj("custom_section.o"), obj("maps_only.o"), obj("module_kfunc.o")}
}

// sharedCheck is one `bpfmatrix -v check --json` over the prediction
// objects and every third-party object on checkKernels, shared by the
// tests below: one boot per kernel for all of them.
var sharedCheck struct {
	once   sync.Once
	objs   []string
	stdout string
	stderr string
	code   int
}

func checkEverything(t *testing.T) (rep check.Report, objs []string, stderr string) {
	t.Helper()
	for _, k := range checkKernels {
		fetchKernel(t, k)
	}
	sharedCheck.once.Do(func() {
		sharedCheck.objs = append(predictionObjects(), thirdPartyObjects(t)...)
		// --timeout: some 800 loads, each verified under TCG; 5.10 took
		// over the default 5 minutes at a load average of 40 on 2 cores.
		args := append([]string{"-v", "check", "--json", "--timeout", "30m", "--kernels", strings.Join(checkKernels, ",")}, sharedCheck.objs...)
		sharedCheck.stdout, sharedCheck.stderr, sharedCheck.code = bpfmatrix(t, nil, args...)
	})
	require.NotEmpty(t, sharedCheck.objs, "the shared check run failed in an earlier test")
	require.Equal(t, 1, sharedCheck.code, "rejections => exit 1; stderr: %s", lastBytes(sharedCheck.stderr, 4000))
	require.NoError(t, json.Unmarshal([]byte(sharedCheck.stdout), &rep), lastBytes(sharedCheck.stdout, 4000))
	require.Len(t, rep.Kernels, len(checkKernels))
	for _, k := range rep.Kernels {
		require.Empty(t, k.Error, "%s: the agent survived every object", k.Name)
	}
	return rep, sharedCheck.objs, sharedCheck.stderr
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

var startQEMU = regexp.MustCompile(`(?m)msg="start qemu" kernel=(\S+)`)

// TestCheckThirdParty: `check` over 92 objects (87 of them other people's)
// on three kernels: one boot per kernel, no crash, a row for every program
// and map of every object with a cell per kernel, and the cells this
// session looked at and understood.
func TestCheckThirdParty(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	rep, objs, stderr := checkEverything(t)

	t.Run("one boot per kernel", func(t *testing.T) {
		var boots []string
		for _, m := range startQEMU.FindAllStringSubmatch(stderr, -1) {
			boots = append(boots, m[1])
		}
		slices.Sort(boots)
		assert.Equal(t, checkKernels, boots, "%d objects, one QEMU per kernel", len(objs))
	})

	type rowKey struct{ object, kind, name string }
	rows := map[rowKey]check.Row{}
	for _, r := range rep.Rows {
		rows[rowKey{filepath.Base(r.Object), r.Kind, r.Name}] = r
		for _, k := range checkKernels {
			c, ok := r.Cells[k]
			if !assert.True(t, ok, "%s %s %s: no cell for %s", r.Object, r.Kind, r.Name, k) {
				continue
			}
			assert.NotContains(t, c.Summary, "crashed", "%s %s on %s", r.Object, r.Name, k)
			assert.NotContains(t, c.Summary, "panic", "%s %s on %s", r.Object, r.Name, k)
			assert.NotEmpty(t, c.Loader+c.Summary, "%s %s on %s: a verdict or a reason", r.Object, r.Name, k)
		}
	}

	t.Run("every object has its rows", func(t *testing.T) {
		unreadable := 0
		for _, path := range objs {
			base := filepath.Base(path)
			o, err := object.Open(path)
			if err != nil {
				// Broken on purpose (cilium/ebpf's invalid_* objects) or
				// beyond cilium/ebpf v0.22 (ksym-el.elf): one error row.
				unreadable++
				r, ok := rows[rowKey{base, "object", ""}]
				if assert.True(t, ok, "%s: unreadable (%v) but no row", base, err) {
					for _, k := range checkKernels {
						assert.Equal(t, check.CellError, r.Cells[k].Status, "%s on %s", base, k)
					}
				}
				continue
			}
			for _, p := range o.Programs {
				assert.Contains(t, rows, rowKey{base, "program", p}, "%s: program %s has no row", base, p)
			}
			for _, m := range o.Maps {
				assert.Contains(t, rows, rowKey{base, "map", m}, "%s: map %s has no row", base, m)
			}
		}
		assert.Equal(t, 3, unreadable, "invalid_btf_map_init-el.elf, invalid_map_static-el.elf, ksym-el.elf")
	})

	type want struct {
		status  string
		summary string // a substring of the cell's summary
		loader  string // "" is not checked
		explain string // a substring of the cell's explanation
	}
	acc := want{status: check.CellAccepted, summary: "processed "}
	accLibbpf := want{status: check.CellAccepted, summary: "processed ", loader: "libbpf"}
	created := want{status: check.CellAccepted, summary: "created"}
	needsValue := func(what string) want { return want{status: check.CellNeedsValue, summary: what} }
	all := func(w want) [3]want { return [3]want{w, w, w} }
	for key, ws := range map[rowKey][3]want{
		// A map-only object, gated by version: arenas are 6.9+.
		{"arena-el.elf", "map", "arena"}: {
			{status: check.CellRejected, summary: "invalid argument", explain: "map arena has type arena (6.9, 317460317a02); debian-5.10 lacks it"},
			{status: check.CellRejected, summary: "invalid argument", explain: "debian-6.1 lacks it"},
			created,
		},
		// __kconfig externs (LINUX_KERNEL_VERSION, CONFIG_HZ, a tristate,
		// ...) resolved against each kernel's own config.
		{"kconfig-el.elf", "program", "kconfig"}: all(acc),
		// fentry/fexit on the tc program of the same object, and freplace
		// of a global function of the same object: the target is loaded
		// first.
		{"fentry_fexit-el.elf", "program", "trace_on_entry"}: all(acc),
		{"fentry_fexit-el.elf", "program", "trace_on_exit"}:  all(acc),
		{"freplace-el.elf", "program", "replacement"}:        all(acc),
		// SEC("fexit/mutex_lock") next to an fentry program named
		// mutex_lock: the kernel's function is the target, not that
		// program ("Cannot recursively attach" before the fix).
		{"klockstat.bpf.o", "program", "mutex_lock_exit"}: all(acc),
		// bpf_ksym_exists-guarded __weak kfuncs: loaded even where kfuncs
		// do not exist.
		{"kfunc-el.elf", "program", "call_weak_kfunc"}: all(acc),
		// Values user space sets before load: not a rejection.
		{"fsdist.bpf.o", "program", "file_open_fentry"}: all(needsValue("attach target dummy_file_open is not in this kernel's BTF")),
		{"capable.bpf.o", "map", "stackmap"}:            all(needsValue("map stackmap has max_entries 0")),
		{"memleak.bpf.o", "program", "malloc_exit"}:     all(needsValue("map stack_traces has max_entries 0")),
		// tp_btf/block_io_start: the tracepoint is 6.5+; biostacks' user
		// space picks the kprobe programs before that.
		{"biostacks.bpf.o", "program", "block_io_start"}: {
			needsValue("attach target block_io_start is not in this kernel's BTF"),
			needsValue("attach target block_io_start is not in this kernel's BTF"),
			acc,
		},
		// A typedef'd LINUX_KERNEL_VERSION: cilium/ebpf cannot read the
		// object, libbpf loads it, and says the same about a missing
		// tracepoint.
		{"biosnoop.bpf.o", "program", "block_rq_complete"}: all(accLibbpf),
		{"biosnoop.bpf.o", "program", "block_io_start"}: {
			{status: check.CellNeedsValue, summary: "attach target block_io_start is not in this kernel's BTF", loader: "libbpf"},
			{status: check.CellNeedsValue, summary: "attach target block_io_start is not in this kernel's BTF", loader: "libbpf"},
			accLibbpf,
		},
		// USDT probes (usdt.bpf.h's weak symbols): libbpf.
		{"javagc.bpf.o", "program", "handle_gc_start"}: all(accLibbpf),
		// What 5.10 lacks, named.
		{"filelife.bpf.o", "program", "vfs_create"}: {
			{status: check.CellRejected, summary: "invalid func unknown#158", explain: "calls bpf_get_current_task_btf (5.11, 3ca1032ab7ab) at /bcc/libbpf-tools/filelife.bpf.c:"},
			acc, acc,
		},
		{"subprog_reloc-el.elf", "program", "fp_relocation"}: {
			{status: check.CellRejected, summary: "number of funcs in func_info doesn't match number of subprogs", explain: "passes subprogram sub_prog as a callback (5.13)"},
			acc, acc,
		},
	} {
		r, ok := rows[key]
		if !assert.True(t, ok, "no row %v", key) {
			continue
		}
		for i, k := range checkKernels {
			c, w := r.Cells[k], ws[i]
			assert.Equal(t, w.status, c.Status, "%v on %s: %+v", key, k, c)
			assert.Contains(t, c.Summary, w.summary, "%v on %s", key, k)
			if w.loader != "" {
				assert.Equal(t, w.loader, c.Loader, "%v on %s", key, k)
			}
			if w.explain != "" {
				assert.Contains(t, c.Explanation, w.explain, "%v on %s", key, k)
			}
		}
	}

	notes := strings.Join(rep.Notes, "\n")
	assert.Contains(t, notes, "biosnoop.bpf.o: loaded with libbpf: cilium/ebpf: variable LINUX_KERNEL_VERSION must be a 32 bits integer")
	assert.Contains(t, notes, "javagc.bpf.o: loaded with libbpf: cilium/ebpf cannot read it")
	for _, k := range rep.Kernels {
		t.Logf("%s (%s)", k.Name, k.Release)
	}
	t.Logf("%d rows: %d rejected, %d errors, %d need a value", len(rep.Rows), rep.Rejected, rep.Errors, rep.NeedsValue)
}
