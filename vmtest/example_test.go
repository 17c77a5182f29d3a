package vmtest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/vmtest"
)

// A package's VM tests: TestMain hands the package to vmtest, and each test
// gives vmtest.Run the kernels and the part that runs inside them.
func Example() {
	var kernels = []string{"debian-5.10", "debian-6.1"}

	// func TestMain(m *testing.M) { vmtest.Main(m, vmtest.Options{}) }
	_ = func(m *testing.M) { vmtest.Main(m, vmtest.Options{}) }

	// func TestBPFFS(t *testing.T) { ... }
	_ = func(t *testing.T) {
		vmtest.Run(t, kernels, func(t *testing.T) {
			// Only inside each guest: TestBPFFS/debian-5.10, TestBPFFS/debian-6.1.
			mounts, err := os.ReadFile("/proc/mounts")
			require.NoError(t, err)
			require.True(t, strings.Contains(string(mounts), " /sys/fs/bpf bpf "), "bpffs is mounted")
		})
	}
}
