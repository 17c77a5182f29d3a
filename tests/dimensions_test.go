package tests

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
	"github.com/bpfmatrix/bpfmatrix/internal/run"
)

// The dimension tests run their own probe-only matrix (no corpus, no
// bpftool) over the four kernels and 7.3, whose diff from 7.2 shows kfuncs
// gained and lost. Boot and run deadlines are generous: the kfunc matrix
// is thousands of loads, and this machine is shared.
var (
	dimOnce sync.Once
	dimRes  map[string]*result.KernelResult
	dimErr  error
)

var dimKernels = []string{"debian-5.10", "debian-6.1", "debian-6.12", "debian-7.2", "debian-7.3"}

func dimensionsMatrix(t *testing.T) map[string]*result.KernelResult {
	t.Helper()
	dimOnce.Do(func() {
		specs, err := catalog.Default().LookupAll(dimKernels)
		if err != nil {
			dimErr = err
			return
		}
		for _, name := range dimKernels {
			fetchKernel(t, name)
		}
		f, err := fetch.New(fetch.Options{CacheDir: cacheDir(t)})
		if err != nil {
			dimErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		m, err := run.Run(ctx, specs, run.Options{Fetcher: f, Parallel: 2, CPUs: 1, NoCache: true,
			BootTimeout: 5 * time.Minute, RunTimeout: 10 * time.Minute})
		if err != nil {
			dimErr = err
			return
		}
		dimRes = map[string]*result.KernelResult{}
		for i := range m.Kernels {
			dimRes[m.Kernels[i].Kernel.Name] = &m.Kernels[i]
		}
	})
	require.NoError(t, dimErr)
	for name, kr := range dimRes {
		require.Empty(t, kr.Error, "kernel %s failed", name)
	}
	return dimRes
}

// TestDimensionFacts asserts known cells of the kfunc, BTF and struct_ops
// dimensions on debian-5.10, 6.1, 6.12 and 7.2: versions from the one
// table (internal/features), sources upstream.
func TestDimensionFacts(t *testing.T) {
	m := dimensionsMatrix(t)
	type fact struct {
		kernel, progType, name string
		kind                   result.Kind
		status                 result.Status
		reason                 result.ReasonKind
		reasonHas              string
	}
	for _, c := range []fact{
		// Kfuncs. bpf_rcu_read_lock: 9bb00b2895cb (6.2). 5.10's BTF tags no
		// kfunc and its kallsyms names no kfunc set: the table's row says why.
		{kernel: "debian-5.10", kind: result.KindKfunc, name: "bpf_rcu_read_lock", status: result.Unsupported, reason: result.ReasonVersion, reasonHas: "6.2 (commit 9bb00b2895cb)"},
		{kernel: "debian-6.12", kind: result.KindKfunc, name: "bpf_rcu_read_lock", status: result.Supported},
		{kernel: "debian-6.12", kind: result.KindKfunc, progType: "tracing", name: "bpf_rcu_read_lock", status: result.Supported},
		{kernel: "debian-7.2", kind: result.KindKfunc, name: "bpf_rcu_read_lock", status: result.Supported},
		// 6.1 lists its kfuncs from the kfunc sets in kallsyms: the TCP
		// congestion-control kfuncs are for struct_ops programs only.
		{kernel: "debian-6.1", kind: result.KindKfunc, name: "tcp_reno_ssthresh", status: result.Supported},
		{kernel: "debian-6.1", kind: result.KindKfunc, progType: "struct_ops", name: "tcp_reno_ssthresh", status: result.Supported},
		{kernel: "debian-6.1", kind: result.KindKfunc, progType: "xdp", name: "tcp_reno_ssthresh", status: result.Unsupported, reason: result.ReasonProgramType},
		// bpf_dynptr_from_skb: b5964b968ac6 (6.4), for skb program types.
		{kernel: "debian-6.12", kind: result.KindKfunc, progType: "sched_cls", name: "bpf_dynptr_from_skb", status: result.Supported},
		{kernel: "debian-6.12", kind: result.KindKfunc, progType: "kprobe", name: "bpf_dynptr_from_skb", status: result.Unsupported, reason: result.ReasonProgramType},
		{kernel: "debian-7.2", kind: result.KindKfunc, progType: "xdp", name: "bpf_dynptr_from_skb", status: result.Unsupported, reason: result.ReasonProgramType},
		// 7.2 still has scx_bpf_cpu_rq (7.3 drops it).
		{kernel: "debian-7.2", kind: result.KindKfunc, name: "scx_bpf_cpu_rq", status: result.Supported},

		// BTF features, loaded as libbpf's FEAT_BTF_* probes.
		{kernel: "debian-5.10", kind: result.KindBTF, name: "func_linkage", status: result.Supported},
		{kernel: "debian-5.10", kind: result.KindBTF, name: "type_tag", status: result.Unsupported, reason: result.ReasonVersion, reasonHas: "5.17"},
		{kernel: "debian-5.10", kind: result.KindBTF, name: "enum64", status: result.Unsupported, reason: result.ReasonVersion, reasonHas: "6.0 (commit 6089fb325cf7)"},
		{kernel: "debian-6.1", kind: result.KindBTF, name: "enum64", status: result.Supported},
		{kernel: "debian-6.1", kind: result.KindBTF, name: "qmark_datasec", status: result.Unsupported, reason: result.ReasonVersion},
		{kernel: "debian-6.12", kind: result.KindBTF, name: "qmark_datasec", status: result.Supported},
		{kernel: "debian-7.2", kind: result.KindBTF, name: "decl_tag", status: result.Supported},

		// struct_ops types. bpf_dummy_ops: c196906d50e3 (5.14).
		{kernel: "debian-5.10", kind: result.KindStructOps, name: "tcp_congestion_ops", status: result.Supported},
		{kernel: "debian-5.10", kind: result.KindStructOps, name: "bpf_dummy_ops", status: result.Unsupported, reason: result.ReasonVersion, reasonHas: "5.14"},
		{kernel: "debian-6.1", kind: result.KindStructOps, name: "bpf_dummy_ops", status: result.Supported},
		{kernel: "debian-6.1", kind: result.KindStructOps, name: "sched_ext_ops", status: result.Unsupported, reason: result.ReasonVersion, reasonHas: "6.12"},
		{kernel: "debian-7.2", kind: result.KindStructOps, name: "sched_ext_ops", status: result.Supported},
		// bpf_dummy_ops.test_sleepable exists to test sleepable struct_ops.
		{kernel: "debian-7.2", kind: result.KindStructOps, name: "bpf_dummy_ops.test_sleepable:sleepable", status: result.Supported},
		{kernel: "debian-7.2", kind: result.KindStructOps, name: "bpf_dummy_ops.test_1:sleepable", status: result.Unsupported, reason: result.ReasonProgramType},
	} {
		t.Run(c.kernel+"/"+string(c.kind)+"/"+c.progType+"/"+c.name, func(t *testing.T) {
			f := feature(t, m[c.kernel], c.kind, c.progType, c.name)
			require.Equal(t, c.status, f.Status, "%+v %+v", f, f.Reason)
			if c.status == result.Unsupported {
				require.NotNil(t, f.Reason)
				assert.Equal(t, c.reason, f.Reason.Kind, "%+v", f.Reason)
				assert.Contains(t, matrix.ReasonText(f.Reason), c.reasonHas)
			}
		})
	}
	// 6.1 has no bpf_rcu_read_lock at all: its kfunc list does not name it.
	for _, f := range m["debian-6.1"].Features {
		assert.False(t, f.Kind == result.KindKfunc && f.Name == "bpf_rcu_read_lock", "%+v", f)
	}
}

// TestKfuncDiff72To73: 7.3 adds bpf_icmp_send and the bpf_ksock_* kfuncs
// and drops scx_bpf_cpu_rq; the diff of the two kernels says so.
func TestKfuncDiff72To73(t *testing.T) {
	m := dimensionsMatrix(t)
	d := matrix.CompareKernels(m["debian-7.2"], m["debian-7.3"])
	kinds := map[string]matrix.ChangeKind{}
	for _, kd := range d.Kernels {
		for _, c := range kd.Changes {
			if c.What == string(result.KindKfunc) && c.ProgramType == "" {
				kinds[c.Name] = c.Kind
			}
		}
	}
	for _, n := range []string{"bpf_icmp_send", "bpf_ksock_create", "bpf_ksock_connect", "bpf_ksock_send", "bpf_ksock_release"} {
		assert.Equal(t, matrix.Gained, kinds[n], n)
	}
	assert.Equal(t, matrix.Lost, kinds["scx_bpf_cpu_rq"])
}
