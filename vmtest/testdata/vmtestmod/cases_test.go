package vmtestmod

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/vmtest"
)

var kernels = []string{"debian-5.10", "debian-6.1"}

var custom = flag.String("custom", "", "set with go test -args -custom=VALUE")

func TestMain(m *testing.M) {
	vmtest.Main(m, vmtest.Options{Env: []string{"VMTESTMOD_OPTIONS_ENV=from-options"}})
}

// TestPass checks where the body runs: in the guest of its kernel, with
// Options.Env and the host's environment.
func TestPass(t *testing.T) {
	vmtest.Run(t, kernels, func(t *testing.T) {
		if p := os.Getenv("VMTESTMOD_HOST_FILE"); p != "" {
			// Only a body run on the host can create this host file: in
			// the guest, its directory does not exist.
			_ = os.WriteFile(p, []byte("ran"), 0o644)
		}
		kernel, ok := vmtest.Guest()
		require.True(t, ok, "not inside a guest")
		require.Equal(t, t.Name()[strings.LastIndex(t.Name(), "/")+1:], kernel)
		release, err := os.ReadFile("/proc/sys/kernel/osrelease")
		require.NoError(t, err)
		t.Logf("inside %s: %s", kernel, strings.TrimSpace(string(release)))
		require.Equal(t, "from-options", os.Getenv("VMTESTMOD_OPTIONS_ENV"))
		require.Equal(t, "from-host", os.Getenv("VMTESTMOD_HOST_ENV"))
		require.Equal(t, 120, Covered(5))
	})
}

func TestFail(t *testing.T) {
	vmtest.Run(t, kernels, func(t *testing.T) {
		t.Log("before the assertion")
		require.Equal(t, "expected in the guest", "actual in the guest")
	})
}

func TestSkip(t *testing.T) {
	vmtest.Run(t, kernels, func(t *testing.T) {
		t.Skip("this kernel lacks the feature")
	})
}

func TestShort(t *testing.T) {
	vmtest.Run(t, kernels, func(t *testing.T) {
		require.True(t, testing.Short(), "-short did not reach the guest")
	})
}

func TestCustomFlag(t *testing.T) {
	vmtest.Run(t, kernels, func(t *testing.T) {
		require.Equal(t, "x", *custom)
	})
}

func TestSubtests(t *testing.T) {
	vmtest.Run(t, kernels, func(t *testing.T) {
		t.Run("ok", func(t *testing.T) {})
		t.Run("bad", func(t *testing.T) { t.Error("sub-subtest failed") })
	})
}

// TestTimeout never finishes: run it with a short -timeout.
func TestTimeout(t *testing.T) {
	vmtest.Run(t, []string{"debian-6.1"}, func(t *testing.T) {
		t.Log("started, now waiting forever")
		time.Sleep(time.Hour)
	})
}

// TestPanic crashes the guest's test binary; TestAfterPanic never gets to
// run there. Keep them last.
func TestPanic(t *testing.T) {
	vmtest.Run(t, kernels, func(t *testing.T) {
		panic("boom in the guest")
	})
}

func TestAfterPanic(t *testing.T) {
	vmtest.Run(t, kernels, func(t *testing.T) {})
}
