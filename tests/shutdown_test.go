package tests

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// TestJobShutsMachineDown runs testdata/rebootprog, a job that calls
// reboot(2) itself. The run must end with the shutdown's own error as soon
// as the kernel says it stopped the machine, not at the run timeout (10
// minutes here, so a missed shutdown fails as ErrRunTimeout, not by a
// clock).
//
// On x86_64 (acpi=off) the kernel cannot power off and halts instead
// ("reboot: System halted"), leaving QEMU running with stopped CPUs: only
// the console says so. A restart ends QEMU (-no-reboot). On arm64, PSCI
// powers off ("reboot: Power down") and QEMU exits.
func TestJobShutsMachineDown(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	for _, tc := range []struct {
		kernel, cmd string
		arch        catalog.Arch
		want        error
	}{
		{"debian-6.1", "power-off", catalog.AMD64, vm.ErrHalted},
		{"debian-6.1", "halt", catalog.AMD64, vm.ErrHalted},
		{"debian-6.1", "restart", catalog.AMD64, vm.ErrRestarted},
		{"debian-6.1-arm64", "power-off", catalog.ARM64, vm.ErrPoweredOff},
	} {
		t.Run(tc.kernel+"/"+tc.cmd, func(t *testing.T) {
			k := fetchKernel(t, tc.kernel)
			require.Equal(t, tc.arch, k.Arch)
			prog := buildStaticFor(t, "./testdata/rebootprog", "rebootprog", tc.arch)
			var stdout bytes.Buffer
			res, err := vm.Run(context.Background(), vm.Options{
				Arch: k.Arch, Kernel: k.Image, TempDir: t.TempDir(),
				Stdout: &stdout, RunTimeout: 10 * time.Minute,
			}, vm.Job{Program: prog, Args: []string{tc.cmd}})
			require.Error(t, err)
			require.ErrorIs(t, err, tc.want)
			assert.ErrorIs(t, err, vm.ErrShutdown)
			assert.NotErrorIs(t, err, vm.ErrRunTimeout)
			assert.Contains(t, err.Error(), tc.want.Error())
			var ve *vm.Error
			require.ErrorAs(t, err, &ve)
			assert.True(t, ve.Booted, "the job ran: no retry")
			assert.Equal(t, 1, res.Attempts)
			assert.Equal(t, "calling reboot: "+tc.cmd+"\n", stdout.String(), "output before the shutdown is kept")
		})
	}
}
