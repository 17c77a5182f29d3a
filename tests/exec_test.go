package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

func runJob(t *testing.T, kernel string, opts vm.Options, args ...string) (*vm.Result, string, string, error) {
	t.Helper()
	k := fetchKernel(t, kernel)
	var stdout, stderr bytes.Buffer
	opts.Arch, opts.Kernel = k.Arch, k.Image
	opts.Stdout, opts.Stderr = &stdout, &stderr
	opts.TempDir = t.TempDir()
	prog := buildStatic(t, "./testdata/jobprog", "jobprog")
	res, err := vm.Run(context.Background(), opts, vm.Job{Program: prog, Args: args})
	if err == nil {
		t.Logf("%s: boot %v, run %v", kernel, res.BootTime.Round(time.Millisecond), res.RunTime.Round(time.Millisecond))
	}
	return res, stdout.String(), stderr.String(), err
}

// TestExec boots each kernel twice: once for uname, 10 MB of output and
// exit status 3, once for exit status 0.
func TestExec(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	for _, kernel := range []string{"debian-5.10", "debian-6.1"} {
		t.Run(kernel, func(t *testing.T) {
			k := fetchKernel(t, kernel)
			require.NotEmpty(t, k.Release)
			t.Run("uname, output and exit 3", func(t *testing.T) {
				res, stdout, stderr, err := runJob(t, kernel, vm.Options{}, "output", "3")
				require.NoError(t, err)
				assert.Equal(t, 3, res.ExitCode)
				assert.Equal(t, k.Release, res.Release, "uname -r seen by the agent")
				require.GreaterOrEqual(t, len(stdout), 10<<20)
				sum := fmt.Sprintf("sha256 %x\n", sha256.Sum256([]byte(stdout)))
				assert.Equal(t, "stderr line\n"+sum, stderr)
			})
			t.Run("uname and exit 0", func(t *testing.T) {
				res, stdout, _, err := runJob(t, kernel, vm.Options{}, "uname")
				require.NoError(t, err)
				assert.Equal(t, 0, res.ExitCode)
				assert.Equal(t, k.Release+"\n", stdout, "uname -r inside the guest")
			})
		})
	}
}

func TestExecFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	const kernel = "debian-6.1"
	t.Run("run timeout", func(t *testing.T) {
		start := time.Now()
		_, _, _, err := runJob(t, kernel, vm.Options{RunTimeout: 3 * time.Second}, "sleep")
		require.ErrorIs(t, err, vm.ErrRunTimeout)
		assert.ErrorContains(t, err, "run timeout")
		assert.ErrorContains(t, err, "qemu-system-x86_64", "reproduction command")
		assert.Less(t, time.Since(start), 40*time.Second)
	})
	t.Run("boot timeout", func(t *testing.T) {
		_, _, _, err := runJob(t, kernel, vm.Options{BootTimeout: 200 * time.Millisecond}, "true")
		require.ErrorIs(t, err, vm.ErrBootTimeout)
		assert.ErrorContains(t, err, "boot timeout")
	})
	t.Run("kernel panic", func(t *testing.T) {
		res, _, _, err := runJob(t, kernel, vm.Options{}, "panic")
		require.ErrorIs(t, err, vm.ErrPanic)
		var ve *vm.Error
		require.ErrorAs(t, err, &ve)
		assert.True(t, ve.Booted, "the panic came after the agent was up: no retry")
		assert.Equal(t, 1, res.Attempts)
		tail := strings.Join(ve.ConsoleTail, "\n")
		assert.Contains(t, tail, "Kernel panic")
		assert.Contains(t, tail, "sysrq triggered crash")
		assert.Contains(t, err.Error(), "sysrq triggered crash", "the error shows the console lines")
	})
}

// TestGoTestExec runs `go test -exec 'bpfmatrix exec --kernel debian-6.1'`
// on a package under testdata that reads its own testdata/ file.
func TestGoTestExec(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	fetchKernel(t, "debian-6.1") // fill the cache before go test's own timeout starts
	bin := buildStatic(t, "../cmd/bpfmatrix", "bpfmatrix")
	buildStatic(t, "../cmd/bpfmatrix-agent", "bpfmatrix-agent") // next to bpfmatrix
	for _, tc := range []struct {
		name, run string
		pass      bool
		want      string
	}{
		{"passing test passes", "TestReadsTestdata", true, "ok"},
		{"failing test fails", "TestFails", false, "this test fails on purpose"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("go", "test", "-count=1", "-v", "-run", tc.run,
				"-exec", bin+" exec --kernel debian-6.1", "./testdata/gotest")
			cmd.Env = append(os.Environ(), "BPFMATRIX_CACHE="+cacheDir(t))
			out, err := cmd.CombinedOutput()
			t.Logf("%s", out)
			if tc.pass {
				require.NoError(t, err)
				assert.Contains(t, string(out), "--- PASS: TestReadsTestdata")
			} else {
				require.Error(t, err)
				assert.Contains(t, string(out), "--- FAIL: TestFails")
			}
			assert.Contains(t, string(out), tc.want)
		})
	}
}

// TestExecDynamicProgram runs a dynamically linked distro binary: the
// initramfs carries its interpreter and libraries from the host.
func TestExecDynamicProgram(t *testing.T) {
	k := fetchKernel(t, "debian-6.1")
	var stdout bytes.Buffer
	res, err := vm.Run(context.Background(), vm.Options{Arch: k.Arch, Kernel: k.Image, Stdout: &stdout}, vm.Job{Program: "/bin/uname", Args: []string{"-r"}})
	require.NoError(t, err)
	assert.Equal(t, 0, res.ExitCode)
	assert.Equal(t, k.Release+"\n", stdout.String())
}

// TestExecCancel: a cancelled context stops QEMU and everything it started,
// and removes the run's temporary files.
func TestExecCancel(t *testing.T) {
	k := fetchKernel(t, "debian-6.1")
	prog := buildStatic(t, "./testdata/jobprog", "jobprog")
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the job is running (its stdout is the signal), as Ctrl-C
	// on `bpfmatrix exec` does.
	started := make(chan struct{})
	go func() {
		select {
		case <-started:
		case <-time.After(time.Minute):
		}
		cancel()
	}()
	start := time.Now()
	_, err := vm.Run(ctx, vm.Options{Arch: k.Arch, Kernel: k.Image, TempDir: tmp, Stdout: &firstWrite{ch: started}},
		vm.Job{Program: prog, Args: []string{"sleep-after-hello"}})
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 45*time.Second)

	ents, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, ents, "temporary files left behind")
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	require.NoError(t, err)
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil {
			continue // the process ended
		}
		assert.NotContains(t, string(cmdline), tmp, "%s still runs", p)
	}
}

// firstWrite closes ch on the first write.
type firstWrite struct {
	ch   chan struct{}
	once sync.Once
}

func (w *firstWrite) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.ch) })
	return len(p), nil
}
