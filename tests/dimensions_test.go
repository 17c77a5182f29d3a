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

// debian-7.2 is probed on its own (one boot, no corpus): realMatrix has
// 7.3, and the diff from 7.2 to 7.3 is what shows kfuncs gained and lost.
var (
	kernel72Once sync.Once
	kernel72     *result.KernelResult
	kernel72Err  error
)

func probe72(t *testing.T) *result.KernelResult {
	t.Helper()
	kernel72Once.Do(func() {
		specs, err := catalog.Default().LookupAll([]string{"debian-7.2"})
		if err != nil {
			kernel72Err = err
			return
		}
		fetchKernel(t, "debian-7.2")
		f, err := fetch.New(fetch.Options{CacheDir: cacheDir(t)})
		if err != nil {
			kernel72Err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		m, err := run.Run(ctx, specs, run.Options{Fetcher: f, Parallel: 1, CPUs: 1})
		if err != nil {
			kernel72Err = err
			return
		}
		kernel72 = &m.Kernels[0]
	})
	require.NoError(t, kernel72Err)
	require.Empty(t, kernel72.Error)
	return kernel72
}

// TestDimensionFacts asserts known cells of the kfunc, BTF and struct_ops
// dimensions on debian-5.10, 6.1, 6.12 and 7.2: versions from the one
// table (internal/features), sources upstream.
func TestDimensionFacts(t *testing.T) {
	m := realMatrix(t)
	m["debian-7.2"] = probe72(t)
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
	m := realMatrix(t)
	d := matrix.CompareKernels(probe72(t), m["debian-7.3"])
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
