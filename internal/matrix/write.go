package matrix

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// File names inside a report directory.
const (
	FileJSON     = "matrix.json"
	FileMarkdown = "matrix.md"
	FileHTML     = "index.html"
	FileJUnit    = "junit.xml"
	// DirKernels holds one raw result file per kernel: kernels/<name>.json.
	DirKernels = "kernels"
)

// Write validates m and writes everything into dir (created if needed):
// matrix.json, matrix.md, index.html, junit.xml and kernels/<name>.json.
// Each file is written atomically; an invalid matrix writes nothing.
func Write(dir string, m *result.Matrix) error {
	if err := Validate(m); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, DirKernels), 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for i := range m.Kernels {
		if err := WriteKernel(dir, &m.Kernels[i]); err != nil {
			return err
		}
	}
	js, err := JSON(m)
	if err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, FileJSON), js); err != nil {
		return err
	}
	return writeReports(dir, m)
}

// WriteReports regenerates matrix.md, index.html and junit.xml in dir from m,
// leaving matrix.json and the raw kernel files alone (`bpfmatrix report`).
func WriteReports(dir string, m *result.Matrix) error {
	if err := Validate(m); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return writeReports(dir, m)
}

func writeReports(dir string, m *result.Matrix) error {
	html, err := HTML(m)
	if err != nil {
		return err
	}
	junit, err := JUnit(m)
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{
		FileMarkdown: Markdown(m),
		FileHTML:     html,
		FileJUnit:    junit,
	} {
		if err := writeAtomic(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	return nil
}

// KernelFile is the path of a kernel's raw result file inside a report directory.
func KernelFile(dir, name string) (string, error) {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("kernel name %q: not usable as a file name", name)
	}
	return filepath.Join(dir, DirKernels, name+".json"), nil
}

// WriteKernel writes one kernel's raw result to kernels/<name>.json in dir.
func WriteKernel(dir string, k *result.KernelResult) error {
	path, err := KernelFile(dir, k.Kernel.Name)
	if err != nil {
		return fmt.Errorf("write kernel result: %w", err)
	}
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return fmt.Errorf("encode kernel result %s: %w", k.Kernel.Name, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write kernel result: %w", err)
	}
	return writeAtomic(path, append(b, '\n'))
}

// writeAtomic writes b to a temporary file next to path and renames it
// into place, so readers see the old file or the new one, never a mix.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
