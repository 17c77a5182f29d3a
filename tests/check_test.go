package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/check"
	"github.com/bpfmatrix/bpfmatrix/internal/cli"
	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire/zstdcodec"
	"github.com/bpfmatrix/bpfmatrix/internal/object"
)

const objectsDir = "testdata/objects"

// bpfmatrix runs the CLI in-process with the test kernels' cache and the
// agent built from this checkout.
func bpfmatrix(t *testing.T, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	t.Setenv("BPFMATRIX_AGENT", buildStatic(t, "../cmd/bpfmatrix-agent", "bpfmatrix-agent"))
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	start := time.Now()
	err := cli.Run(context.Background(), append([]string{"--cache-dir", cacheDir(t)}, args...), stdin, &out, &errb)
	code = cli.ExitCode(err, &errb)
	t.Logf("bpfmatrix %s: exit %d in %v", strings.Join(args, " "), code, time.Since(start).Round(100*time.Millisecond))
	return out.String(), errb.String(), code
}

func obj(name string) string { return filepath.Join(objectsDir, name) }

// TestCheckJSON: one boot per kernel for three objects; the verdicts are
// what the kernels really say (see the comments in the C sources).
func TestCheckJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	fetchKernel(t, "debian-5.10")
	fetchKernel(t, "debian-6.1")
	stdout, stderr, code := bpfmatrix(t, nil, "check", "--kernels", "debian-5.10,debian-6.1", "--json",
		obj("loop.o"), obj("never.o"), obj("libbpf_style.o"))
	require.Equal(t, 1, code, "rejections => exit 1; stderr: %s", stderr)
	var rep check.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	require.Len(t, rep.Kernels, 2)
	for _, k := range rep.Kernels {
		assert.Empty(t, k.Error)
		assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, k.Digest)
	}
	assert.Regexp(t, `^5\.10\.`, rep.Kernels[0].Release)
	assert.Regexp(t, `^6\.1\.`, rep.Kernels[1].Release)

	cells := map[string][2]check.Cell{}
	for _, r := range rep.Rows {
		key := filepath.Base(r.Object) + " " + r.Kind + " " + r.Name
		cells[key] = [2]check.Cell{r.Cells["debian-5.10"], r.Cells["debian-6.1"]}
	}
	type want struct{ status, summary string }
	acc := want{check.CellAccepted, "processed "}
	created := want{check.CellAccepted, "created"}
	for key, w := range map[string][2]want{
		"loop.o program match_comm":                {{check.CellRejected, "invalid func unknown#182"}, acc},
		"loop.o program sum_loop":                  {{check.CellRejected, "number of funcs in func_info doesn't match number of subprogs"}, acc},
		"loop.o map .bss":                          {created, created},
		"loop.o map .rodata":                       {created, created},
		"never.o program count_unchecked":          {{check.CellRejected, "R0 invalid mem access 'map_value_or_null'"}, {check.CellRejected, "R0 invalid mem access 'map_value_or_null'"}},
		"never.o program count_checked":            {acc, acc},
		"never.o map hits":                         {created, created},
		"libbpf_style.o program kprobe_unlink":     {acc, acc}, // CO-RE against each kernel's BTF
		"libbpf_style.o program fentry_unlink":     {acc, acc}, // target from the kernel's BTF
		"libbpf_style.o program xdp_entry":         {acc, acc},
		"libbpf_style.o program classify_drop":     {acc, acc}, // freplace against xdp_entry
		"libbpf_style.o program replace_elsewhere": {{check.CellNotLoaded, "needs a loaded target program with global function handle_packet"}, {check.CellNotLoaded, "handle_packet"}},
		"libbpf_style.o map unlinks":               {created, created}, // pinned by name
		"libbpf_style.o map .rodata":               {created, created},
		"libbpf_style.o map .bss":                  {created, created},
	} {
		got, ok := cells[key]
		if !assert.True(t, ok, "no row %q", key) {
			continue
		}
		for i, k := range []string{"debian-5.10", "debian-6.1"} {
			assert.Equal(t, w[i].status, got[i].Status, "%s on %s: %+v", key, k, got[i])
			assert.Contains(t, got[i].Summary, w[i].summary, "%s on %s", key, k)
			if got[i].Status == check.CellAccepted && !strings.Contains(key, " map ") {
				assert.Positive(t, got[i].Insns, "%s on %s: instructions processed", key, k)
			}
		}
	}
	assert.Len(t, cells, 15, "no unexpected rows")
	assert.Equal(t, 4, rep.Rejected)
	assert.Contains(t, strings.Join(rep.Notes, "\n"), "libbpf_style.o: map unlinks: pinning by name ignored")
}

// TestCheckTable: the text table and both exit statuses.
func TestCheckTable(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	t.Run("rejected on 5.10, accepted on 6.1", func(t *testing.T) {
		logs := t.TempDir()
		stdout, stderr, code := bpfmatrix(t, nil, "check", "--kernels", "debian-5.10,debian-6.1", "--logs", logs, obj("loop.o"))
		require.Equal(t, 1, code, stderr)
		log, err := os.ReadFile(filepath.Join(logs, "debian-5.10", "loop.match_comm.log"))
		require.NoError(t, err, "--logs keeps every rejected program's whole log")
		assert.Contains(t, string(log), "9: (85) call unknown#182\ninvalid func unknown#182\n")
		assert.NoFileExists(t, filepath.Join(logs, "debian-6.1", "loop.match_comm.log"), "accepted: stats only")
		lines := strings.Split(stdout, "\n")
		assert.Regexp(t, `^OBJECT\s+PROGRAM\s+debian-5\.10\s+debian-6\.1$`, lines[0])
		assert.Regexp(t, `(?m)^testdata/objects/loop\.o\s+match_comm\s+REJECTED: invalid func unknown#182 \[1\]\s+accepted \(\d+ insns\)$`, stdout)
		assert.Regexp(t, `(?m)^testdata/objects/loop\.o\s+sum_loop\s+REJECTED: number of funcs in func_info doesn't match number of subprogs \[2\]\s+accepted \(\d+ insns\)$`, stdout)
		// The kernel's message stays; the footnote says what 5.10 lacks.
		assert.Contains(t, stdout, "[1] why: calls bpf_strncmp (5.17, c5fb19937455) at loop.c:42; debian-5.10 lacks it\n")
		assert.Contains(t, stdout, "[2] why: calls bpf_loop (5.17, e6f2dd0f8067) at loop.c:30; debian-5.10 lacks it\n")
		assert.Regexp(t, `(?m)^testdata/objects/loop\.o\s+map \.rodata\s+created\s+created$`, stdout)
		assert.Regexp(t, `(?m)^kernel debian-5\.10: 5\.10\.\S+ \(sha256:[0-9a-f]{64}\)$`, stdout)
		assert.Contains(t, stdout, "2 of 8 loads rejected")
	})
	t.Run("accepted everywhere", func(t *testing.T) {
		stdout, stderr, code := bpfmatrix(t, nil, "check", "--kernels", "debian-6.1", obj("libbpf_style.o"))
		require.Equal(t, 0, code, "a program that cannot be loaded standalone is not a rejection; stderr: %s", stderr)
		assert.Regexp(t, `(?m)^testdata/objects/libbpf_style\.o\s+replace_elsewhere\s+not loaded \[1\]$`, stdout)
		assert.Contains(t, stdout, "[1] freplace/handle_packet can't be loaded on its own")
		assert.NotContains(t, stdout, "REJECTED")
	})
}

// TestRepro: the annotated log, the artifact directory, and the QEMU line
// in it rerunning the same boot.
func TestRepro(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	fetchKernel(t, "debian-5.10")
	out := filepath.Join(t.TempDir(), "art")
	stdout, stderr, code := bpfmatrix(t, nil, "repro", "--kernel", "debian-5.10", "--program", "match_comm", "--out", out, obj("loop.o"))
	require.Equal(t, 1, code, "rejected => exit 1; stderr: %s", stderr)
	assert.Regexp(t, `^=== loop\.o match_comm on debian-5\.10 \(5\.10\.\S+\): REJECTED\n`+
		`why: calls bpf_strncmp \(5\.17, c5fb19937455\) at loop\.c:42; debian-5\.10 lacks it\n`+
		`failing instruction: 9: call unknown#182\n`+
		`source: \./loop\.c:42: if \(bpf_strncmp\(comm, sizeof\(comm\), target_comm\) == 0\)\n`+
		`verifier: invalid func unknown#182\n`, stdout)
	assert.Contains(t, stdout, "\n>>> 9: (85) call unknown#182  // ./loop.c:42: if (bpf_strncmp(comm, sizeof(comm), target_comm) == 0)\ninvalid func unknown#182\n")
	assert.Contains(t, stdout, "0: (b7) r1 = 0  // ./loop.c:38: int match_comm(struct xdp_md *ctx)\n")
	assert.Contains(t, stdout, "artifacts: "+out+"\n")
	assert.NotContains(t, stdout, "sum_loop", "--program selects one program")

	ents, err := os.ReadDir(out)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.ElementsMatch(t, []string{"console.log", "initramfs.cpio", "kernel.json", "loop.o", "match_comm.annotated.log", "match_comm.log", "rerun.sh", "result.json"}, names)
	siblings, err := os.ReadDir(filepath.Dir(out))
	require.NoError(t, err)
	assert.Len(t, siblings, 1, "no staging directory left behind")

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		return string(b)
	}
	orig, err := os.ReadFile(obj("loop.o"))
	require.NoError(t, err)
	assert.Equal(t, string(orig), read("loop.o"), "the object is copied")
	raw := read("match_comm.log")
	assert.True(t, strings.HasPrefix(raw, "func#0 @0\n"), raw)
	assert.Contains(t, raw, "9: (85) call unknown#182\ninvalid func unknown#182\n")
	assert.Contains(t, read("match_comm.annotated.log"), ">>> 9: (85) call unknown#182  // ./loop.c:42:")
	var kinfo check.Kernel
	require.NoError(t, json.Unmarshal([]byte(read("kernel.json")), &kinfo))
	assert.Equal(t, "debian-5.10", kinfo.Name)
	assert.Regexp(t, `^5\.10\.`, kinfo.Release)
	assert.Equal(t, fetchKernel(t, "debian-5.10").Digest, kinfo.Digest)
	var rep object.LoadReport
	require.NoError(t, json.Unmarshal([]byte(read("result.json")), &rep))
	require.Len(t, rep.Objects, 1)
	require.Len(t, rep.Objects[0].Programs, 1)
	assert.Equal(t, "EINVAL", rep.Objects[0].Programs[0].Errno, "5.10 says EINVAL for a helper it does not know")

	rerun := read("rerun.sh")
	assert.Contains(t, rerun, "\nbpfmatrix repro --kernel debian-5.10 --program match_comm loop.o\n")
	var qemu string
	for _, l := range strings.Split(rerun, "\n") {
		if strings.HasPrefix(l, "# qemu-system-x86_64 ") {
			qemu = strings.TrimPrefix(l, "# ")
		}
	}
	require.NotEmpty(t, qemu, rerun)
	assert.Contains(t, qemu, "-initrd "+filepath.Join(out, "initramfs.cpio"))

	t.Run("the QEMU line reruns the boot", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", qemu)
		cmd.Dir = t.TempDir()
		console, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", console)
		data, err := os.Open(filepath.Join(cmd.Dir, "bpfmatrix-data.bin"))
		require.NoError(t, err)
		defer data.Close()
		var stdout bytes.Buffer
		exited := false
		fr := wire.NewReader(data, wire.Flate, zstdcodec.New())
		for {
			f, err := fr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			switch f.Type {
			case wire.TypeStdout:
				stdout.Write(f.Payload)
			case wire.TypeExit:
				exited = true
			}
		}
		assert.True(t, exited)
		assert.Contains(t, stdout.String(), "invalid func unknown#182")
	})

	t.Run("accepted", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "art")
		stdout, stderr, code := bpfmatrix(t, nil, "repro", "--kernel", "debian-6.1", "--program", "match_comm", "--out", out, obj("loop.o"))
		require.Equal(t, 0, code, stderr)
		assert.Regexp(t, `^=== loop\.o match_comm on debian-6\.1 \(6\.1\.\S+\): ACCEPTED\n`, stdout)
		assert.NotContains(t, stdout, object.FailMarker)
		assert.Contains(t, stdout, "call bpf_strncmp#182")
		assert.Contains(t, stdout, "// ./loop.c:42: if (bpf_strncmp(comm, sizeof(comm), target_comm) == 0)")
		assert.FileExists(t, filepath.Join(out, "match_comm.log"))
	})
}

// TestReproShell drives the interactive shell with a script on stdin.
func TestReproShell(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	fetchKernel(t, "debian-6.1")
	script := strings.Join([]string{
		"echo hello-$((6*7))",
		"uname -r",
		"ls -l $OBJ",
		"bpftool version",
		"bpfmatrix-agent load $OBJ",
		"bpftool prog loadall $OBJ /sys/fs/bpf/never 2>&1 | grep -c 'invalid mem access'",
		"exit 7",
		"echo not reached",
	}, "\n") + "\n"
	stdout, stderr, code := bpfmatrix(t, strings.NewReader(script), "repro", "--shell", "--kernel", "debian-6.1", obj("never.o"))
	assert.Equal(t, 7, code, "the shell's exit status; stderr: %s", stderr)
	assert.Contains(t, stdout, "hello-42\n")
	assert.Regexp(t, `(?m)6\.1\.\S+-cloud-amd64$`, stdout)
	assert.Regexp(t, `(?m)\s/obj/never\.o$`, stdout)
	assert.Contains(t, stdout, "bpftool v7.1")
	assert.Regexp(t, `(?m)^/obj/never\.o\s+count_unchecked\s+rejected\s+\d+\s+R0 invalid mem access 'map_value_or_null'$`, stdout)
	assert.Regexp(t, `(?m)^/obj/never\.o\s+count_checked\s+accepted\s`, stdout)
	assert.Regexp(t, `(?m)# 1$`, stdout, "bpftool's own loader hits the same rejection")
	assert.NotContains(t, stdout, "not reached")
	assert.Contains(t, stderr, "bpfmatrix shell on 6.1.")
}

// TestCheckIsolation: other people's objects, one boot. A directory holding
// a file that is not ELF, a program in a section with no program type, a
// program at the verifier's complexity limits, an object with maps only and
// an ordinary one: every file gets its rows, each object's failure stays in
// its rows, and the exit status is 1 (not 2: something could be read).
func TestCheckIsolation(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	fetchKernel(t, "debian-6.1")
	dir := t.TempDir()
	for _, name := range []string{"custom_section.o", "complexity.o", "maps_only.o", "never.o"} {
		b, err := os.ReadFile(obj(name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("not an object\n"), 0o644))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var args []string // what "bpfmatrix check dir/*" passes
	for _, e := range ents {
		args = append(args, filepath.Join(dir, e.Name()))
	}
	logs := t.TempDir()
	stdout, stderr, code := bpfmatrix(t, nil, append([]string{"check", "--kernels", "debian-6.1", "--json", "--logs", logs}, args...)...)
	require.Equal(t, 1, code, "an unreadable object among readable ones is a row, exit 1; stderr: %s", stderr)
	var rep check.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	require.Len(t, rep.Kernels, 1)
	require.Empty(t, rep.Kernels[0].Error, "the agent survived every object")

	cells := map[string]check.Cell{}
	for _, r := range rep.Rows {
		cells[filepath.Base(r.Object)+" "+r.Kind+" "+r.Name] = r.Cells["debian-6.1"]
	}
	for key, want := range map[string]check.Cell{
		"README object ":                       {Status: check.CellError, Summary: "README: not an ELF file"},
		"custom_section.o program custom_prog": {Status: check.CellError, Summary: `program custom_prog: section "my_custom_section" names no program type`},
		"custom_section.o program xdp_pass":    {Status: check.CellAccepted, Summary: "processed "},
		"complexity.o program too_large":       {Status: check.CellRejected, Summary: "BPF program is too large. Processed 1000001 insn"},
		// 5.10 to 6.1 end a branch past BPF_COMPLEXITY_LIMIT_JMP_SEQ with
		// EFAULT, and cilium/ebpf hands back no log with EFAULT.
		"complexity.o program too_many_jumps": {Status: check.CellRejected, Errno: "EFAULT", Summary: "bad address (EFAULT) and no verifier log"},
		"maps_only.o map counters":            {Status: check.CellAccepted, Summary: "created"},
		"maps_only.o map arena":               {Status: check.CellRejected, Summary: "invalid argument"}, // arenas are 6.9+
		"never.o program count_checked":       {Status: check.CellAccepted, Summary: "processed "},
		"never.o program count_unchecked":     {Status: check.CellRejected, Summary: "R0 invalid mem access 'map_value_or_null'"},
		"never.o map hits":                    {Status: check.CellAccepted, Summary: "created"},
	} {
		got, ok := cells[key]
		if !assert.True(t, ok, "no row %q in %v", key, cells) {
			continue
		}
		assert.Equal(t, want.Status, got.Status, "%s: %+v", key, got)
		assert.Contains(t, got.Summary, want.Summary, key)
		if want.Errno != "" {
			assert.Equal(t, want.Errno, got.Errno, key)
		}
	}
	assert.Len(t, cells, 10, "no unexpected rows")
	assert.Equal(t, 4, rep.Rejected)
	assert.Equal(t, 2, rep.Errors)

	// The complexity rejection keeps the kernel's stats-level log and says
	// why there is no level-2 log.
	log, err := os.ReadFile(filepath.Join(logs, "debian-6.1", "complexity.too_large.log"))
	require.NoError(t, err)
	assert.Contains(t, string(log), "BPF program is too large. Processed 1000001 insn\n")
	assert.Regexp(t, `(?m)^verification time \d+ usec$`, string(log))
	assert.Contains(t, string(log), "bpfmatrix: no level-2 log: the verifier stopped at a complexity limit after 1000001 instructions")
	t.Logf("debian-6.1 complexity.o too_large:\n%s", log)
}

// TestCheckObjectKinds: the objects people ship, one boot per kernel for
// all of them: __kconfig externs resolved against each kernel's own config,
// fentry/fexit/freplace targets in the same object, values user space sets
// before load (needs_value, not rejected), and objects only libbpf reads
// (loaded with bpftool, loader=libbpf). Then the values given with --set
// and --attach-target: one more boot.
func TestCheckObjectKinds(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	fetchKernel(t, "debian-5.10")
	fetchKernel(t, "debian-6.1")
	objs := []string{obj("kconfig.o"), obj("kconfig_typedef.o"), obj("same_object.o"), obj("user_values.o"), obj("usdt.o")}
	stdout, stderr, code := bpfmatrix(t, nil, append([]string{"check", "--kernels", "debian-5.10,debian-6.1", "--json"}, objs...)...)
	require.Equal(t, 1, code, "version_unchecked is rejected; stderr: %s", stderr)
	var rep check.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	require.Len(t, rep.Kernels, 2)
	for _, k := range rep.Kernels {
		require.Empty(t, k.Error)
	}
	cells := map[string]map[string]check.Cell{}
	for _, r := range rep.Rows {
		cells[filepath.Base(r.Object)+" "+r.Kind+" "+r.Name] = r.Cells
	}
	type want struct{ status, summary, loader string }
	acc := want{check.CellAccepted, "processed ", "cilium"}
	accLibbpf := want{check.CellAccepted, "processed ", "libbpf"}
	needs := func(what string) want {
		return want{check.CellNeedsValue, "needs a value from user space: " + what, "cilium"}
	}
	for key, w := range map[string]want{
		"kconfig.o program kconfig_gate":              acc, // CONFIG_* from /boot/config-$(uname -r)
		"kconfig_typedef.o program version_gate":      accLibbpf,
		"kconfig_typedef.o program version_unchecked": {check.CellRejected, "R1 offset is outside of the packet", "libbpf"},
		"usdt.o program on_request":                   accLibbpf,
		"same_object.o program xdp_main":              acc,
		"same_object.o program trace_handle_packet":   acc, // fentry on a global function of xdp_main
		"same_object.o program trace_xdp_main":        acc, // fexit on xdp_main
		"same_object.o program replace_handle_packet": acc,
		"user_values.o program count_unlink":          needs("map counts has max_entries 0"),
		"user_values.o program file_open_fentry":      needs("attach target dummy_file_open is not in this kernel's BTF"),
		"user_values.o map counts":                    {check.CellNeedsValue, "--set map.counts.max_entries=N", ""},
	} {
		got, ok := cells[key]
		if !assert.True(t, ok, "no row %q", key) {
			continue
		}
		for _, k := range []string{"debian-5.10", "debian-6.1"} {
			c := got[k]
			assert.Equal(t, w.status, c.Status, "%s on %s: %+v", key, k, c)
			assert.Contains(t, c.Summary, w.summary, "%s on %s", key, k)
			if w.loader != "" {
				assert.Equal(t, w.loader, c.Loader, "%s on %s: loader", key, k)
			}
		}
	}
	assert.Equal(t, 2, rep.Rejected, "version_unchecked on both kernels")
	assert.Equal(t, 6, rep.NeedsValue, "needs_value is not counted as rejected")
	assert.Contains(t, strings.Join(rep.Notes, "\n"), "usdt.o: loaded with libbpf: cilium/ebpf cannot read it")

	t.Run("values given", func(t *testing.T) {
		stdout, stderr, code := bpfmatrix(t, nil, "check", "--kernels", "debian-6.1",
			"--set", "map.counts.max_entries=1024", "--set", "rodata.targ_pid=1", "--set", "rodata.targ_comm=bash",
			"--attach-target", "file_open_fentry=security_file_open", obj("user_values.o"))
		require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)
		assert.Regexp(t, `(?m)^testdata/objects/user_values\.o\s+count_unlink\s+accepted \(\d+ insns\)$`, stdout)
		assert.Regexp(t, `(?m)^testdata/objects/user_values\.o\s+file_open_fentry\s+accepted \(\d+ insns\)$`, stdout)
		assert.Regexp(t, `(?m)^testdata/objects/user_values\.o\s+map counts\s+created$`, stdout)
		assert.Contains(t, stdout, "note: testdata/objects/user_values.o: variable targ_pid set from user space")
		assert.Contains(t, stdout, "note: testdata/objects/user_values.o: program file_open_fentry: attach target set to security_file_open")
	})
}

// TestCheckModuleKfunc: a program calling kfuncs that Debian's kernels
// build into the nf_conntrack module (module_kfunc.c) is "needs module
// nf_conntrack" on 6.1 and 6.12, whose guests load no modules, not a
// rejection: the exit status stays 0 and the kernel's own message is kept.
// The other program of the object is judged as usual. repro says the same.
func TestCheckModuleKfunc(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	kernels := []string{"debian-6.1", "debian-6.12"}
	for _, k := range kernels {
		fetchKernel(t, k)
	}
	stdout, stderr, code := bpfmatrix(t, nil, "check", "--kernels", strings.Join(kernels, ","), "--json", obj("module_kfunc.o"))
	require.Equal(t, 0, code, "stderr: %s", stderr)
	var rep check.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	cells := map[string]map[string]check.Cell{}
	for _, r := range rep.Rows {
		cells[r.Kind+" "+r.Name] = r.Cells
	}
	for _, k := range kernels {
		c := cells["program ct_lookup"][k]
		assert.Equal(t, check.CellNeedsModule, c.Status, "%s: %+v", k, c)
		assert.Equal(t, "nf_conntrack", c.Module, k)
		assert.Contains(t, c.Summary, "needs module nf_conntrack: calls kfunc bpf_xdp_ct_lookup at module_kfunc.c:35, defined in module nf_conntrack", k)
		assert.Contains(t, c.Summary, `(the kernel said: program ct_lookup: fixing up kfuncs: kfunc "bpf_xdp_ct_lookup": not supported)`, k)
		assert.Equal(t, check.CellAccepted, cells["program plain_pass"][k].Status, k)
	}
	assert.Equal(t, 2, rep.NeedsModule)
	assert.Zero(t, rep.Rejected)

	t.Run("repro", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "repro")
		stdout, stderr, code := bpfmatrix(t, nil, "repro", "--kernel", "debian-6.12", "--program", "ct_lookup", "--out", out, obj("module_kfunc.o"))
		require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)
		assert.Contains(t, stdout, "ct_lookup on debian-6.12 (6.12.")
		assert.Contains(t, stdout, "NEEDS A MODULE: needs module nf_conntrack: calls kfunc bpf_xdp_ct_lookup at module_kfunc.c:35")
	})
}

// TestCheckPlainStructOps: a struct_ops map in the plain .struct_ops
// section (registered without a link, before 6.4), which cilium/ebpf v0.22
// refuses, is loaded with libbpf, and the programs the map holds load
// together (each one alone fails libbpf's struct_ops relocation).
func TestCheckPlainStructOps(t *testing.T) {
	if testing.Short() {
		t.Skip("boots kernels")
	}
	kernels := []string{"debian-6.1", "debian-6.12"}
	for _, k := range kernels {
		fetchKernel(t, k)
	}
	stdout, stderr, code := bpfmatrix(t, nil, "check", "--kernels", strings.Join(kernels, ","), "--json", obj("struct_ops_plain.o"))
	require.Equal(t, 0, code, "stderr: %s", stderr)
	var rep check.Report
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	programs := 0
	for _, r := range rep.Rows {
		if r.Kind != "program" {
			continue
		}
		programs++
		for _, k := range kernels {
			assert.Equal(t, check.CellAccepted, r.Cells[k].Status, "%s on %s: %+v", r.Name, k, r.Cells[k])
			assert.Equal(t, "libbpf", r.Cells[k].Loader, "%s on %s", r.Name, k)
		}
	}
	assert.Equal(t, 3, programs, "bpfmx_ssthresh, bpfmx_cong_avoid, bpfmx_undo_cwnd")
}
