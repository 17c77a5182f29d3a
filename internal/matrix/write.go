package matrix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"

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
	// The JSON files and the three renderings read m and nothing else:
	// they are made side by side (a merge of many kernels waits on them).
	var eg errgroup.Group
	eg.Go(func() error {
		ks, err := encodeKernels(m)
		if err != nil {
			return err
		}
		js, spans, err := matrixJSON(m, ks)
		if err != nil {
			return err
		}
		for i := range m.Kernels {
			if err := writeKernelFile(dir, m.Kernels[i].Kernel.Name, dedent(js[spans[i][0]:spans[i][1]])); err != nil {
				return err
			}
		}
		return atomicfile.Write(filepath.Join(dir, FileJSON), js, false)
	})
	eg.Go(func() error { return writeReports(dir, m) })
	return eg.Wait()
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
	var html, junit, md []byte
	var eg errgroup.Group
	eg.Go(func() (err error) { html, err = HTML(m); return err })
	eg.Go(func() (err error) { junit, err = JUnit(m); return err })
	eg.Go(func() error { md = Markdown(m); return nil })
	if err := eg.Wait(); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{FileMarkdown, md}, {FileHTML, html}, {FileJUnit, junit}} {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.b, false); err != nil {
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
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("encode kernel result %s: %w", k.Kernel.Name, err)
	}
	return writeKernel(dir, k.Kernel.Name, b)
}

// writeKernel writes kernels/<name>.json from the result's compact encoding,
// indented as json.MarshalIndent(k, "", "  ") would.
func writeKernel(dir, name string, compact []byte) error {
	b := bytes.NewBuffer(make([]byte, 0, 4*len(compact)+1))
	if err := json.Indent(b, compact, "", "  "); err != nil {
		return fmt.Errorf("encode kernel result %s: %w", name, err)
	}
	b.WriteByte('\n')
	return writeKernelFile(dir, name, b.Bytes())
}

func writeKernelFile(dir, name string, b []byte) error {
	path, err := KernelFile(dir, name)
	if err != nil {
		return fmt.Errorf("write kernel result: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write kernel result: %w", err)
	}
	return atomicfile.Write(path, b, false)
}
