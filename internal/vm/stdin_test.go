package vm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// TestArgvDataPipe: with stdin the data port is a pipe chardev (both
// directions); the console stays a write-only file chardev.
func TestArgvDataPipe(t *testing.T) {
	for _, tc := range []struct {
		arch catalog.Arch
		want []string
	}{
		{catalog.AMD64, []string{
			"-chardev", "file,id=serial0,path=/dev/fd/3", "-serial", "chardev:serial0",
			"-chardev", "pipe,id=serial1,path=/run/d/data", "-serial", "chardev:serial1",
		}},
		{catalog.ARM64, []string{
			"-chardev", "file,id=serial0,path=/dev/fd/3", "-serial", "chardev:serial0",
			"-chardev", "pipe,id=serial1,path=/run/d/data", "-device", "pci-serial,chardev=serial1",
		}},
	} {
		t.Run(string(tc.arch), func(t *testing.T) {
			m, err := MachineFor(tc.arch, TCG)
			require.NoError(t, err)
			c := Command{Machine: m, Accel: TCG, MemoryMB: 512, CPUs: 1, Kernel: "/k", SerialPaths: []string{"/dev/fd/3", "/dev/fd/4"}, DataPipe: "/run/d/data"}
			argv := c.Argv()
			i := indexOf(argv, "-chardev")
			require.GreaterOrEqual(t, i, 0)
			assert.Equal(t, tc.want, argv[i:i+len(tc.want)])
		})
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
