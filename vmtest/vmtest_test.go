package vmtest

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInVM(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a kernel")
	}
	if InVM(t, Options{Kernel: "debian-6.1"}) {
		return
	}
	// Inside the guest: PID 1 is bpfmatrix-init, bpffs is mounted, and the
	// package directory (with this file) is the working directory.
	b, err := os.ReadFile("/proc/1/cmdline")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "/init"), "pid 1 is %q", b)
	_, err = os.Stat("vmtest_test.go")
	require.NoError(t, err)
	mounts, err := os.ReadFile("/proc/mounts")
	require.NoError(t, err)
	assert.Contains(t, string(mounts), "/sys/fs/bpf bpf")
}

func TestRunPattern(t *testing.T) {
	assert.Equal(t, `^TestA$/^sub\.x$`, runPattern("TestA/sub.x"))
}
