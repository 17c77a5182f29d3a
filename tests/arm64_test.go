package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// buildStaticFor builds pkg (relative to this directory) as a static binary
// for arch, once per test process.
func buildStaticFor(tb testing.TB, pkg, name string, arch catalog.Arch) string {
	tb.Helper()
	name += "-" + arch.GOARCH()
	v, _ := builds.LoadOrStore(pkg+"\x00"+name, &buildResult{})
	b := v.(*buildResult)
	b.once.Do(func() {
		b.path = filepath.Join(buildDir, name)
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch.GOARCH())
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = &buildError{pkg, string(out), err}
		}
	})
	require.NoError(tb, b.err)
	return b.path
}

// archReport is what testdata/archprobe prints.
type archReport struct {
	Machine            string `json:"machine"`
	Load               string `json:"load"`
	Attach             string `json:"attach"`
	AttachNotSupported bool   `json:"attach_not_supported"`
}

// TestARM64 boots arm64 kernels under qemu-system-aarch64 (TCG) with the
// agent cross-built for arm64 and checks one documented difference from
// x86_64 on the same kernel version: fentry (the BPF trampoline).
//
// x86_64 has attached fentry programs to kernel functions since 5.5
// (fec56f5890d9, "bpf: Introduce BPF trampoline"). arm64 got its BPF
// trampoline in 6.0 (efc9909fdce0, "bpf, arm64: Add bpf trampoline for
// arm64"), but attaching one to a kernel function also needs ftrace direct
// calls, which arm64 only gained in 6.4 (2aa6ac03516d, "arm64: ftrace: Add
// direct call support"); before that bpf_trampoline_update's text poke
// fails with ENOTSUPP. So on Debian's 6.1 the same fentry program attaches
// on x86_64 and is refused on arm64, and 6.12 arm64 attaches (the other
// way round: the test fails if arm64 fentry were broken in our harness).
// Measured before asserting: `bpfmatrix run --kernels
// debian-5.10,debian-5.10-arm64` and the 6.1 pair report misc trampolines
// ✓ on x86_64 and ✗ (attach fentry: errno 524) on arm64.
func TestARM64(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	for _, tc := range []struct {
		kernel  string
		machine string
		fentry  bool
	}{
		{"debian-6.1-arm64", "aarch64", false},
		{"debian-6.1", "x86_64", true},
		{"debian-6.12-arm64", "aarch64", true},
	} {
		t.Run(tc.kernel, func(t *testing.T) {
			k := fetchKernel(t, tc.kernel)
			spec, err := catalog.Default().Lookup(tc.kernel)
			require.NoError(t, err)
			require.Equal(t, spec.Arch, k.Arch)
			prog := buildStaticFor(t, "./testdata/archprobe", "archprobe", k.Arch)
			var stdout, stderr bytes.Buffer
			// Agent empty: vm.AgentBinary cross-builds it for arm64.
			res, err := vm.Run(context.Background(), vm.Options{
				Arch: k.Arch, Kernel: k.Image, TempDir: t.TempDir(), Stdout: &stdout, Stderr: &stderr,
			}, vm.Job{Program: prog})
			require.NoError(t, err)
			t.Logf("%s: boot %v, run %v", tc.kernel, res.BootTime.Round(time.Millisecond), res.RunTime.Round(time.Millisecond))
			require.Equal(t, 0, res.ExitCode, "stderr: %s", stderr.String())
			assert.Equal(t, k.Release, res.Release, "uname -r seen by the agent")
			if k.Arch == catalog.ARM64 {
				assert.Contains(t, res.Cmdline, "qemu-system-aarch64")
			}

			var r archReport
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &r), "stdout: %s", stdout.String())
			assert.Equal(t, tc.machine, r.Machine, "uname -m inside the guest")
			require.Empty(t, r.Load, "fentry programs load on every arch; only the attach differs")
			if tc.fentry {
				assert.Empty(t, r.Attach)
			} else {
				assert.True(t, r.AttachNotSupported, "attach: %s", r.Attach)
			}
		})
	}
}

// TestReproShellARM64 opens `repro --shell` in an arm64 kernel: the host's
// busybox and bpftool are x86_64, so the shell gets Debian's arm64 builds
// (fetch.Tools: busybox-static, and bpftool with its interpreter and
// libraries at their Debian paths), and bpftool runs there without
// LD_LIBRARY_PATH.
func TestReproShellARM64(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	fetchKernel(t, "debian-6.1-arm64")
	script := strings.Join([]string{
		"uname -m",
		"bpftool version",
		"bpftool map create /sys/fs/bpf/m type hash key 4 value 8 entries 16 name armmap",
		"bpftool map show pinned /sys/fs/bpf/m",
		"exit 5",
	}, "\n") + "\n"
	stdout, stderr, code := bpfmatrix(t, strings.NewReader(script), "repro", "--shell", "--kernel", "debian-6.1-arm64")
	assert.Equal(t, 5, code, "the shell's exit status; stderr: %s", stderr)
	// Each command's output follows the shell's prompt on the same line.
	assert.Regexp(t, `(?m)# aarch64$`, stdout, "uname -m inside the guest")
	assert.Regexp(t, `(?m)# bpftool v7\.\d+\.\d+\nusing libbpf v\d+\.\d+$`, stdout)
	assert.Regexp(t, `(?m)# \d+: hash  name armmap  flags 0x0\n\s+key 4B  value 8B  max_entries 16`, stdout, "a BPF syscall from the arm64 bpftool")
	assert.Contains(t, stderr, "bpfmatrix shell on 6.1.")
	assert.Regexp(t, `-cloud-arm64`, stderr)
}
