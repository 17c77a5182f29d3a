package tests

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// execCLI returns a `bpfmatrix exec --kernel debian-6.1` command of the CLI
// built here (bpfmatrix-init next to it), with TMPDIR set to tmp and an
// empty working directory.
func execCLI(t *testing.T, tmp string, args ...string) *exec.Cmd {
	t.Helper()
	fetchKernel(t, "debian-6.1")
	bin := buildStatic(t, "../cmd/bpfmatrix", "bpfmatrix")
	buildStatic(t, "../cmd/bpfmatrix-init", "bpfmatrix-init") // next to bpfmatrix
	cmd := exec.Command(bin, append([]string{"exec", "--kernel", "debian-6.1", "--dir", t.TempDir(), "--"}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "BPFMATRIX_CACHE="+cacheDir(t))
	return cmd
}

// runDirs lists the run directories under tmp's bpfmatrix-<uid>.
func runDirs(t *testing.T, tmp string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(tmp, "bpfmatrix-"+strconv.Itoa(os.Getuid()), "run-*"))
	require.NoError(t, err)
	return dirs
}

// waitFor polls cond until it holds or a minute has passed (the machine
// may be loaded: this bounds a wait, it does not measure anything).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "waiting for %s", what)
	}
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	return ee.ExitCode()
}

// qemuRunning reports whether a QEMU with dir in its command line runs.
func qemuRunning(dir string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(dir)) {
			return true
		}
	}
	return false
}

// TestExecKilledRunIsSwept: `kill -9` of exec mid-boot leaves its run
// directory (nothing can remove it), and the next exec removes it.
func TestExecKilledRunIsSwept(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	tmp := t.TempDir()
	prog := buildStatic(t, "./testdata/jobprog", "jobprog")
	killed := execCLI(t, tmp, prog, "sleep-after-hello")
	require.NoError(t, killed.Start())
	var dir string
	waitFor(t, "the initramfs", func() bool {
		if d := runDirs(t, tmp); len(d) == 1 {
			dir = d[0]
			_, err := os.Stat(filepath.Join(dir, "initramfs.cpio"))
			return err == nil && qemuRunning(dir)
		}
		return false
	})
	require.NoError(t, killed.Process.Kill())
	_ = killed.Wait()
	assert.FileExists(t, filepath.Join(dir, "initramfs.cpio"), "SIGKILL leaves the run's files")
	waitFor(t, "QEMU to die with its parent", func() bool { return !qemuRunning(dir) })

	next := execCLI(t, tmp, prog, "true")
	out, err := next.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.NoDirExists(t, dir, "the next run swept the killed run's directory")
	assert.Empty(t, runDirs(t, tmp), "and removed its own")
}

// TestExecSignals: SIGTERM and SIGINT stop exec with 128+signal, after it
// stopped QEMU and removed its run directory; while it runs, another exec
// (which sweeps) leaves its directory alone.
func TestExecSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	prog := buildStatic(t, "./testdata/jobprog", "jobprog")
	for _, tc := range []struct {
		sig      syscall.Signal
		code     int
		sweepNow bool
	}{
		{syscall.SIGTERM, 143, true},
		{syscall.SIGINT, 130, false},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			cmd := execCLI(t, tmp, prog, "sleep-after-hello")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			line, err := bufio.NewReader(stdout).ReadString('\n')
			require.NoError(t, err)
			require.Equal(t, "running\n", line, "the job runs")
			dirs := runDirs(t, tmp)
			require.Len(t, dirs, 1)

			if tc.sweepNow {
				other := execCLI(t, tmp, prog, "true")
				out, err := other.CombinedOutput()
				require.NoError(t, err, "%s", out)
				assert.FileExists(t, filepath.Join(dirs[0], "initramfs.cpio"), "a live run's directory survives another run's sweep")
			}

			require.NoError(t, cmd.Process.Signal(tc.sig))
			_, _ = io.Copy(io.Discard, stdout)
			assert.Equal(t, tc.code, exitCode(t, cmd.Wait()))
			assert.Equal(t, "Error: interrupted ("+map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[tc.sig]+")\n", stderr.String())
			assert.Empty(t, runDirs(t, tmp), "files removed")
			assert.False(t, qemuRunning(dirs[0]), "QEMU stopped")
		})
	}
}

// TestExecStdoutClosed: `bpfmatrix exec ... | head -c1` ends exec as SIGPIPE
// ends a shell pipeline's writer (141, silently), with QEMU stopped and
// nothing left in TMPDIR.
func TestExecStdoutClosed(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	tmp := t.TempDir()
	prog := buildStatic(t, "./testdata/jobprog", "jobprog")
	cmd := execCLI(t, tmp, prog, "output")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	b := make([]byte, 1)
	_, err = io.ReadFull(stdout, b)
	require.NoError(t, err)
	require.NoError(t, stdout.Close(), "what head does after one byte")
	err = cmd.Wait()
	assert.Equal(t, 141, exitCode(t, err), "stderr: %s", stderr.String())
	assert.Empty(t, stderr.String())
	ents, err := os.ReadDir(filepath.Join(tmp, "bpfmatrix-"+strconv.Itoa(os.Getuid())))
	require.NoError(t, err)
	assert.Empty(t, ents, "nothing left")
	assert.False(t, qemuRunning(tmp), "QEMU stopped")
}

// TestExecStdin: the job reads exec's stdin; /dev/null (what go test gives
// a test binary) is an immediate end of file.
func TestExecStdin(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	prog := buildStatic(t, "./testdata/jobprog", "jobprog")
	for _, tc := range []struct {
		name  string
		stdin io.Reader
		want  string
	}{
		{"pipe", strings.NewReader("hello\nworld\n"), "hello\nworld\n"},
		{"/dev/null", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := execCLI(t, t.TempDir(), prog, "cat")
			cmd.Stdin = tc.stdin
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), "%s", stderr.String())
			assert.Equal(t, tc.want, stdout.String())
			assert.Equal(t, "read "+strconv.Itoa(len(tc.want))+" bytes, <nil>\n", stderr.String())
		})
	}
}

// TestExecRefusesBeforeBoot: a program the guest cannot run, and a guest
// too small to boot, are bad input: one Error line, exit status 2, before
// anything is fetched (the cache is empty and the mirror unreachable, so a
// fetch would fail otherwise).
func TestExecRefusesBeforeBoot(t *testing.T) {
	bin := buildStatic(t, "../cmd/bpfmatrix", "bpfmatrix")
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o755))
		return p
	}
	arm64 := buildStaticFor(t, "./testdata/jobprog", "jobprog", "arm64")
	x86 := buildStatic(t, "./testdata/jobprog", "jobprog")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"script", []string{"exec", "--kernel", "debian-6.1", write("t.sh", "#!/bin/sh\nexit 0\n")}, "it is a script (#!/bin/sh)"},
		{"text file", []string{"exec", "--kernel", "debian-6.1", write("t.txt", "text\n")}, "it is not an ELF executable"},
		{"arm64 ELF on x86_64", []string{"exec", "--kernel", "debian-6.1", arm64}, "it is built for arm64 (EM_AARCH64) and the kernel is x86_64"},
		{"directory", []string{"exec", "--kernel", "debian-6.1", dir}, "it is a directory"},
		{"exec --memory 16", []string{"exec", "--kernel", "debian-6.1", "--memory", "16", x86}, "--memory 16: below the minimum of 96 MiB"},
		{"run --memory 16", []string{"run", "--kernels", "debian-6.1", "--memory", "16", "--out", filepath.Join(dir, "report")}, "--memory 16: below the minimum of 96 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"--mirror", "http://127.0.0.1:1/debian"}, tc.args...)...)
			cmd.Env = append(os.Environ(), "BPFMATRIX_CACHE="+t.TempDir(), "TMPDIR="+t.TempDir())
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "%v: %s", err, stderr.String())
			assert.Equal(t, 2, ee.ExitCode(), stderr.String())
			assert.Empty(t, stdout.String())
			lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
			require.Len(t, lines, 1, "one line: %s", stderr.String())
			assert.True(t, strings.HasPrefix(lines[0], "Error: "), lines[0])
			assert.Contains(t, lines[0], tc.want)
		})
	}
}

// TestExecExitLine: a non-zero exit status adds one stderr line naming the
// kernel, after the program's output; a zero one adds nothing, so go
// test's output and -json stay intact.
func TestExecExitLine(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	k := fetchKernel(t, "debian-6.1")
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		wantStderr string
	}{
		{"failure", []string{"/bin/busybox", "sh", "-c", "echo out; echo err >&2; exit 3"}, 3, "err\nError: busybox exited with status 3 on debian-6.1 (" + k.Release + ")\n"},
		{"success", []string{"/bin/busybox", "sh", "-c", "echo out; echo err >&2"}, 0, "err\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := execCLI(t, t.TempDir(), tc.args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			assert.Equal(t, tc.code, exitCode(t, cmd.Run()))
			assert.Equal(t, "out\n", stdout.String())
			assert.Equal(t, tc.wantStderr, stderr.String())
		})
	}
}
