package vm

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDynamicClosureOfBpftool(t *testing.T) {
	// bpftool is installed by scripts/install-deps.sh and is what the matrix
	// cross-checks against inside each guest.
	const bpftool = "/usr/sbin/bpftool"
	_, err := os.Stat(bpftool)
	require.NoError(t, err, "bpftool missing: run scripts/install-deps.sh")
	files, err := DynamicClosure(bpftool)
	require.NoError(t, err)
	assert.Contains(t, files, bpftool)
	var names []string
	for g := range files {
		names = append(names, g)
	}
	assert.Contains(t, names, "/lib64/ld-linux-x86-64.so.2")
	for _, lib := range []string{"libelf.so.1", "libz.so.1", "libc.so.6"} {
		found := false
		for _, n := range names {
			if len(n) > len(lib) && n[len(n)-len(lib):] == lib {
				found = true
			}
		}
		assert.True(t, found, "missing %s in %v", lib, names)
	}
}
