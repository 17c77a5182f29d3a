package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/reportdir"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

func newMergeCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "merge DIR... --out DIR",
		Short: "Combine the report directories of several runs (shards) into one report",
		Long: `merge reads DIR/matrix.json of each input (a report directory written by run,
on this machine or another, of either architecture), checks it strictly (schema
and invariants) along with the verifier logs it names, and writes one report to
--out: matrix.json, matrix.md, index.html, junit.xml, kernels/NAME.json and
logs/NAME/, exactly as one run over all the inputs' kernels would (kernels in
catalog order, then by name; generated is the newest input's). --out is written
the way run writes it (staged, stamped, locked), so diff and run work on it.

A kernel present in two inputs is kept once if both results come from the same
kernel image; two different digests for one kernel name are refused (exit 2).
A kernel that failed in its shard keeps its error entry.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runMerge(cmd, g, args, out) },
	}
	cmd.Flags().StringVar(&out, "out", "", "output report directory (required)")
	return cmd
}

// mergeInput is one input report directory, read and checked.
type mergeInput struct {
	dir   string
	root  *os.Root
	m     *result.Matrix
	stamp *reportdir.Stamp // nil when absent or not vouching for m's kernels
}

func runMerge(cmd *cobra.Command, g *globals, dirs []string, out string) error {
	start := time.Now()
	if out == "" {
		return usageError("merge: --out DIR is required")
	}
	// Every input is read and checked before --out is touched.
	var inputs []*mergeInput
	defer func() {
		for _, in := range inputs {
			in.root.Close()
		}
	}()
	for _, dir := range dirs {
		in, err := readMergeInput(dir)
		if err != nil {
			return err
		}
		inputs = append(inputs, in)
	}
	ms := make([]*result.Matrix, len(inputs))
	for i, in := range inputs {
		ms[i] = in.m
	}
	c, err := g.catalog()
	if err != nil {
		return err
	}
	merged, err := matrix.Merge(catalogRank(c), ms...)
	if errors.Is(err, matrix.ErrConflict) || errors.Is(err, matrix.ErrInvalid) {
		return usageError("%s", oneLine(err.Error()))
	}
	if err != nil {
		return err
	}
	od, err := openReportDir(cmd.Context(), g, out)
	if err != nil {
		return err
	}
	defer od.Close()
	stage, err := od.Stage()
	if err != nil {
		return err
	}
	if err := writeMerged(stage.Path(), inputs, merged); err != nil {
		stage.Abort()
		return err
	}
	var lines []string
	for _, kr := range merged.Kernels {
		lines = append(lines, summaryLine(cachedView(kr)))
	}
	st := reportdir.Stamp{Build: buildID(), Kernels: mergedKeys(inputs, merged), Lines: lines}
	if err := stage.Commit("", st); err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintln(g.stdout, l)
	}
	fmt.Fprintf(g.stdout, "merged %d reports into %s/{matrix.json,matrix.md,index.html,junit.xml} (%d kernels, %.2fs)\n",
		len(inputs), out, len(merged.Kernels), time.Since(start).Seconds())
	return nil
}

// readMergeInput reads dir/matrix.json strictly and checks that every
// verifier log it names is a regular file under dir/logs/KERNEL/. Any
// problem is bad input (exit 2).
func readMergeInput(dir string) (*mergeInput, error) {
	m, err := readMatrix(filepath.Join(dir, matrix.FileJSON))
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, usageError("merge: %v", err)
	}
	in := &mergeInput{dir: dir, root: root, m: m}
	for _, kr := range m.Kernels {
		for _, v := range kr.Verifier {
			if v.LogFile == "" {
				continue
			}
			if !logPathOf(kr.Kernel.Name, v.LogFile) {
				root.Close()
				return nil, usageError("merge: %s: kernel %s: verifier log %q is not under logs/%s/", dir, kr.Kernel.Name, v.LogFile, kr.Kernel.Name)
			}
			// Through the root: a symbolic link out of dir is refused.
			fi, err := root.Stat(v.LogFile)
			if err != nil || !fi.Mode().IsRegular() {
				root.Close()
				return nil, usageError("merge: %s: kernel %s: verifier log %s is missing or not a regular file", dir, kr.Kernel.Name, v.LogFile)
			}
		}
	}
	// The stamp is optional (upload-artifact leaves dot files out); when it
	// is there and vouches for exactly these kernels, their result keys
	// carry over, so run finds the merged report up to date.
	if b, err := root.ReadFile(reportdir.StampFile); err == nil {
		if st, err := reportdir.ParseStamp(b); err == nil && st.Complete && len(st.Kernels) == len(m.Kernels) {
			ok := true
			for i, k := range st.Kernels {
				ok = ok && k.Name == m.Kernels[i].Kernel.Name
			}
			if ok {
				in.stamp = st
			}
		}
	}
	return in, nil
}

// logPathOf: p is a slash path inside logs/NAME/.
func logPathOf(name, p string) bool {
	return fs.ValidPath(p) && strings.HasPrefix(p, path.Join("logs", name)+"/")
}

// writeMerged writes the merged report into dir (a staging directory): each
// kernel's verifier logs copied from the input its result came from, then
// matrix.Write's files.
func writeMerged(dir string, inputs []*mergeInput, m *result.Matrix) error {
	for _, kr := range m.Kernels {
		in := inputOf(inputs, &kr)
		for _, v := range kr.Verifier {
			if v.LogFile == "" {
				continue
			}
			if err := copyFromRoot(in.root, v.LogFile, filepath.Join(dir, filepath.FromSlash(v.LogFile))); err != nil {
				return fmt.Errorf("merge: copy %s from %s: %w", v.LogFile, in.dir, err)
			}
		}
	}
	return matrix.Write(dir, m)
}

// inputOf returns the input whose matrix holds kr's result (the one Merge
// kept: same name, same error and digest).
func inputOf(inputs []*mergeInput, kr *result.KernelResult) *mergeInput {
	for _, in := range inputs {
		for _, k := range in.m.Kernels {
			if k.Kernel.Name == kr.Kernel.Name && k.Kernel.Digest == kr.Kernel.Digest && k.Error == kr.Error {
				return in
			}
		}
	}
	return inputs[0] // unreachable: Merge keeps one input's result
}

func copyFromRoot(root *os.Root, from, to string) error {
	src, err := root.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// mergedKeys returns the merged kernels with their result cache keys when
// every input's stamp vouched for its kernels, and nil (never up to date)
// otherwise.
func mergedKeys(inputs []*mergeInput, m *result.Matrix) []reportdir.Kernel {
	keys := map[string]string{}
	for _, in := range inputs {
		if in.stamp == nil {
			return nil
		}
		for _, k := range in.stamp.Kernels {
			keys[k.Name] = k.Key
		}
	}
	var out []reportdir.Kernel
	for _, kr := range m.Kernels {
		out = append(out, reportdir.Kernel{Name: kr.Kernel.Name, Key: keys[kr.Kernel.Name]})
	}
	return out
}

// catalogRank ranks kernel names by their position in c (-1: not in it).
func catalogRank(c *catalog.Catalog) func(string) int {
	return func(name string) int {
		return slices.IndexFunc(c.Kernels, func(k catalog.KernelSpec) bool { return k.Name == name })
	}
}
