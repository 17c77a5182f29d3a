package probe

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// hostResult probes the machine running the tests once per test binary.
var hostCache *result.KernelResult

func hostResult(t *testing.T) *result.KernelResult {
	t.Helper()
	if hostCache != nil {
		return hostCache
	}
	require.True(t, CheckPrivilege(), "host probe tests need root (CAP_BPF/CAP_SYS_ADMIN)")
	kr, err := Probe(context.Background(), Options{BpftoolPath: "/usr/sbin/bpftool"})
	require.NoError(t, err)
	hostCache = kr
	return kr
}

func TestHostDump(t *testing.T) {
	kr := hostResult(t)
	t.Logf("time %v counts %v bpftool %+v", kr.ProbeTime.Std(), Counts(kr.Features), kr.Bpftool)
	for _, f := range kr.Features {
		if f.Status == result.Inconclusive || f.Finding != "" || (f.Status == result.Unsupported && f.Kind != result.KindHelper) {
			t.Logf("%s %s %s %s %+v %s", f.Kind, f.ProgramType, f.Name, f.Status, f.Reason, f.Error+f.Finding)
		}
	}
}
