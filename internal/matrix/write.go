package matrix

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
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
// Each file is written atomically; an invalid matrix writes nothing. It
// first completes m's helper reasons across kernels (ExplainAcrossKernels).
func Write(dir string, m *result.Matrix) error {
	ExplainAcrossKernels(m)
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
	if err := atomicfile.Write(filepath.Join(dir, FileJSON), js, false); err != nil {
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
		if err := atomicfile.Write(filepath.Join(dir, name), b, false); err != nil {
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
	return atomicfile.Write(path, append(b, '\n'), false)
}
