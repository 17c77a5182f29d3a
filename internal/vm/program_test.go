package vm

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// goBuild builds the package dir as a static binary for goarch.
func goBuild(t *testing.T, dir, goarch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(dir)+"-"+goarch)
	cmd := exec.Command("go", "build", "-o", out, dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// TestCheckProgram: what the guest cannot run is refused on the host with
// its reason, from real files: Go builds for both arches, a C program
// linked against a library the loader's directories do not have, a
// script, a text file.
func TestCheckProgram(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), perm))
		return p
	}
	script := write("script.sh", "#!/bin/sh\necho hi\n", 0o755)
	text := write("notes.txt", "just text\n", 0o755)
	noexec := write("noexec", "x", 0o644)
	obj, err := os.ReadFile("../../tests/testdata/objects/loop.o")
	require.NoError(t, err)
	bpfObject := write("loop.o", string(obj), 0o755)
	amd64 := goBuild(t, "../../tests/testdata/trueprog", "amd64")
	arm64 := goBuild(t, "../../tests/testdata/trueprog", "arm64")

	// A dynamic program whose library is only in the build directory.
	cdir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(cdir, "gone.c"), []byte("int gone(void){return 7;}\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(cdir, "main.c"), []byte("int gone(void);\nint main(void){return gone();}\n"), 0o644))
	for _, args := range [][]string{
		{"-shared", "-fPIC", "-o", "libbpfmatrixgone.so", "gone.c"},
		{"-o", "needsgone", "main.c", "-L.", "-lbpfmatrixgone"},
	} {
		cmd := exec.Command("cc", args...)
		cmd.Dir = cdir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	needsGone := filepath.Join(cdir, "needsgone")

	for _, tc := range []struct {
		name, prog string
		arch       catalog.Arch
		want       string // "" for accepted
	}{
		{"static for the kernel's arch", amd64, catalog.AMD64, ""},
		{"static arm64 on arm64", arm64, catalog.ARM64, ""},
		{"dynamic with its libraries on the host", "/bin/ls", catalog.AMD64, ""},
		{"foreign arch", arm64, catalog.AMD64, "it is built for arm64 (EM_AARCH64) and the kernel is x86_64 (EM_X86_64)"},
		{"foreign arch the other way", amd64, catalog.ARM64, "it is built for x86_64 (EM_X86_64) and the kernel is arm64 (EM_AARCH64)"},
		{"script", script, catalog.AMD64, "it is a script (#!/bin/sh) and the guest has no interpreters"},
		{"text file", text, catalog.AMD64, "it is not an ELF executable"},
		{"directory", dir, catalog.AMD64, "it is a directory"},
		{"not executable", noexec, catalog.AMD64, "it is not executable"},
		{"missing library", needsGone, catalog.AMD64, "library libbpfmatrixgone.so needed by"},
		{"BPF object", bpfObject, catalog.AMD64, "it is built for another CPU (EM_BPF)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckProgram(tc.prog, tc.arch)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrBadProgram)
			assert.NotContains(t, err.Error(), "\n", "one line")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
