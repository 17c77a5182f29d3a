package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADMEGoCompiles compiles every Go block of the README as a test file
// of a user's module (requiring this module through a replace, and testify),
// so that the vmtest example a user copies builds against the API as it is.
func TestREADMEGoCompiles(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	require.NotEmpty(t, blocks, "Go blocks in the README")
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	gomod, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	testify := regexp.MustCompile(`github.com/stretchr/testify (v\S+)`).FindStringSubmatch(string(gomod))
	require.NotNil(t, testify)
	gosum, err := os.ReadFile("../go.sum")
	require.NoError(t, err)

	mod := t.TempDir()
	write := func(name, data string) {
		require.NoError(t, os.WriteFile(filepath.Join(mod, name), []byte(data), 0o644))
	}
	write("go.mod", "module example.com/readme\n\ngo 1.26.0\n\nrequire (\n\t"+modulePath+" v0.0.0\n\tgithub.com/stretchr/testify "+testify[1]+"\n)\n\nreplace "+modulePath+" => "+root+"\n")
	write("go.sum", string(gosum))
	imports := map[string]string{"os.": `"os"`, "strings.": `"strings"`, "testing.": `"testing"`,
		"require.": `"github.com/stretchr/testify/require"`, "vmtest.": `"` + modulePath + `/vmtest"`}
	for i, b := range blocks {
		var imp []string
		for use, path := range imports {
			if strings.Contains(b[1], use) {
				imp = append(imp, path)
			}
		}
		write(filepath.Join("readme"+string(rune('a'+i))+"_test.go"), "package readme\n\nimport (\n\t"+strings.Join(imp, "\n\t")+"\n)\n\n"+b[1])
	}
	write("doc.go", "package readme\n")
	cmd := exec.Command("go", "vet", "./...")
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the README's Go does not build:\n%s", out)
}
