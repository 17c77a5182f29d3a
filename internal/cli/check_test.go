package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const objects = "../../tests/testdata/objects"

// TestCheckReproBadInput: every input the host can reject is one line, exit
// status 2, and happens before anything is fetched or booted: the cache
// directory stays empty (fetch.New creates its layout there).
func TestCheckReproBadInput(t *testing.T) {
	tmp := t.TempDir()
	notELF := filepath.Join(tmp, "notes.o")
	require.NoError(t, os.WriteFile(notELF, []byte("SEC(\"xdp\") int prog(void) { return 0; }\n"), 0o644))
	good, err := os.ReadFile(filepath.Join(objects, "loop.o"))
	require.NoError(t, err)
	truncated := filepath.Join(tmp, "truncated.o")
	require.NoError(t, os.WriteFile(truncated, good[:len(good)/2], 0o644))
	headerOnly := filepath.Join(tmp, "header.o")
	require.NoError(t, os.WriteFile(headerOnly, good[:64], 0o644))
	stub := filepath.Join(tmp, "stub.o")
	require.NoError(t, os.WriteFile(stub, good[:20], 0o644))
	empty := filepath.Join(tmp, "empty.o")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	loop := filepath.Join(objects, "loop.o")
	bpfeb := filepath.Join(objects, "loop.bpfeb.o")

	for _, tc := range []struct {
		name     string
		args     []string
		inStderr string
	}{
		{"check: not an ELF", []string{"check", "--kernels", "debian-6.1", notELF}, notELF + ": not an ELF file"},
		{"check: empty file", []string{"check", "--kernels", "debian-6.1", empty}, empty + ": not an ELF file"},
		{"check: ELF but not BPF", []string{"check", "--kernels", "debian-6.1", "/bin/true"}, "/bin/true: ELF for X86_64 (EM_X86_64), not BPF (EM_BPF)"},
		{"check: truncated", []string{"check", "--kernels", "debian-6.1", truncated}, truncated + ": truncated"},
		{"check: only the ELF header", []string{"check", "--kernels", "debian-6.1", headerOnly}, headerOnly + ": truncated: its section headers end at byte " + strconv.Itoa(len(good)) + " but the file has 64 bytes"},
		{"check: cut inside the ELF header", []string{"check", "--kernels", "debian-6.1", stub}, stub + ": truncated or corrupt ELF"},
		{"check: big-endian", []string{"check", "--kernels", "debian-6.1", bpfeb}, bpfeb + ": big-endian BPF object (clang -target bpfeb)"},
		{"check: missing file", []string{"check", "--kernels", "debian-6.1", filepath.Join(tmp, "nope.o")}, "open " + filepath.Join(tmp, "nope.o") + ": no such file or directory"},
		{"check: directory", []string{"check", tmp}, tmp + ": is a directory"},
		{"check: unknown kernel", []string{"check", "--kernels", "debian-6.1,debian-9.9", loop}, `unknown kernel "debian-9.9"`},
		{"check: no objects", []string{"check", "--kernels", "debian-6.1"}, "check: no objects given"},
		// One unreadable object among readable ones is its own row (tests/check_test.go).
		{"check: no object readable", []string{"check", "--kernels", "debian-6.1", "/bin/true", notELF}, "/bin/true: ELF for X86_64 (EM_X86_64), not BPF (EM_BPF); " + notELF + ": not an ELF file"},
		{"check: unknown loader", []string{"check", "--kernels", "debian-6.1", "--loader", "bcc", loop}, `--loader "bcc": want cilium`},
		{"check: --set without =", []string{"check", "--kernels", "debian-6.1", "--set", "rodata.x", loop}, "--set rodata.x: want KEY=VALUE"},
		{"check: --set no such variable", []string{"check", "--kernels", "debian-6.1", "--set", "rodata.targ_pid=1", loop}, "--set rodata.targ_pid=1: no object has a variable targ_pid in .rodata (its variables: target_comm)"},
		{"check: --set value too big", []string{"check", "--kernels", "debian-6.1", "--set", "rodata.targ_pid=-1", filepath.Join(objects, "user_values.o")}, "targ_pid is __u32 (4 bytes, unsigned): -1 does not fit"},
		{"check: --attach-target of a kprobe", []string{"check", "--kernels", "debian-6.1", "--attach-target", "count_unlink=vfs_open", filepath.Join(objects, "user_values.o")}, "is Kprobe, which takes no attach target"},
		{"check: --values missing", []string{"check", "--kernels", "debian-6.1", "--values", filepath.Join(tmp, "values.yaml"), loop}, "--values " + filepath.Join(tmp, "values.yaml") + ": no such file or directory"},
		{"repro: --set no such map", []string{"repro", "--kernel", "debian-6.1", "--set", "map.events.max_entries=8", loop}, "no object has a map events"},
		{"repro: program not there", []string{"repro", "--kernel", "debian-6.1", "--program", "nope", loop}, loop + `: no program "nope" (programs: match_comm, sum_loop)`},
		{"repro: not an ELF", []string{"repro", "--kernel", "debian-6.1", notELF}, "not an ELF file"},
		{"repro: ELF but not BPF", []string{"repro", "--kernel", "debian-6.1", "/bin/true"}, "not BPF (EM_BPF)"},
		{"repro: truncated", []string{"repro", "--kernel", "debian-6.1", truncated}, ": truncated"},
		{"repro: big-endian", []string{"repro", "--kernel", "debian-6.1", bpfeb}, "big-endian BPF object"},
		{"repro: missing file", []string{"repro", "--kernel", "debian-6.1", filepath.Join(tmp, "nope.o")}, "no such file or directory"},
		{"repro: unknown kernel", []string{"repro", "--kernel", "debian-6.2", loop}, `unknown kernel "debian-6.2" (did you mean`},
		{"repro: no kernel", []string{"repro", loop}, "--kernel is required"},
		{"repro: two objects", []string{"repro", "--kernel", "debian-6.1", loop, loop}, "want exactly one OBJECT.o"},
		{"repro: output exists", []string{"repro", "--kernel", "debian-6.1", "--out", tmp, loop}, "--out " + tmp + ": already exists"},
		{"repro --shell: not BPF", []string{"repro", "--shell", "--kernel", "debian-6.1", "/bin/true"}, "not BPF (EM_BPF)"},
		{"repro --shell: unknown kernel", []string{"repro", "--shell", "--kernel", "nope"}, `unknown kernel "nope"`},
		{"repro --shell: x86_64 busybox for an arm64 kernel", []string{"repro", "--shell", "--kernel", "debian-6.1-arm64", "--busybox", "/bin/busybox"}, "busybox /bin/busybox is for EM_X86_64, the kernel is arm64"},
		{"repro --shell: x86_64 bpftool for an arm64 kernel", []string{"repro", "--shell", "--kernel", "debian-6.1-arm64", "--bpftool", "/usr/sbin/bpftool"}, "bpftool /usr/sbin/bpftool is for EM_X86_64, the kernel is arm64"},
		{"repro --shell: missing bpftool", []string{"repro", "--shell", "--kernel", "debian-6.1", "--bpftool", "/nonexistent/bpftool"}, "bpftool: open /nonexistent/bpftool: no such file or directory (pass --bpftool)"},
		{"repro --shell: dynamic busybox", []string{"repro", "--shell", "--kernel", "debian-6.1", "--busybox", "/bin/true"}, "is dynamically linked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			stdout, stderr, code := runCLI(t, append([]string{"--cache-dir", cache}, tc.args...)...)
			assert.Equal(t, 2, code, "stderr: %s", stderr)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.inStderr)
			assert.True(t, strings.HasPrefix(stderr, "Error: "), stderr)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one-line error: %q", stderr)
			ents, err := os.ReadDir(cache)
			require.NoError(t, err)
			assert.Empty(t, ents, "nothing may be fetched for bad input")
		})
	}
}
