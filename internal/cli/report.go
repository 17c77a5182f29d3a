package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
)

func newReportCmd(g *globals) *cobra.Command {
	var jsonLines bool
	cmd := &cobra.Command{
		Use:   "report DIR",
		Short: "Regenerate matrix.md, index.html and junit.xml from DIR/matrix.json",
		Long: `report reads DIR/matrix.json (strictly: unknown fields and broken invariants are
errors) and rewrites DIR/matrix.md, DIR/index.html and DIR/junit.xml from it.
With --json it writes nothing and prints one JSON object per kernel×feature and
kernel×verifier case to stdout instead (JSON Lines, for scripts).
DIR may also be the path of a matrix.json file.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, dir := args[0], args[0]
			if st, err := os.Stat(path); err == nil && !st.IsDir() {
				dir = filepath.Dir(path)
			} else {
				path = filepath.Join(dir, matrix.FileJSON)
			}
			m, err := readMatrix(path)
			if err != nil {
				return err
			}
			if jsonLines {
				return matrix.JSONLines(g.stdout, m)
			}
			if err := matrix.WriteReports(dir, m); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			fmt.Fprintf(g.stdout, "wrote %s, %s and %s (%d kernels)\n",
				filepath.Join(dir, matrix.FileMarkdown), filepath.Join(dir, matrix.FileHTML), filepath.Join(dir, matrix.FileJUnit), len(m.Kernels))
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonLines, "json", false, "print JSON Lines (one object per kernel×feature) to stdout instead of writing files")
	return cmd
}

// readMatrix reads a matrix file; a missing, unreadable or invalid file is
// bad input (exit status 2).
func readMatrix(path string) (*matrix.Matrix, error) {
	m, err := matrix.Read(path)
	switch {
	case err == nil:
		return m, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, matrix.ErrInvalid), errors.Is(err, fs.ErrPermission):
		return nil, usageError("%s", oneLine(err.Error()))
	}
	return nil, err
}

// oneLine keeps an error to one line: Validate joins its findings with newlines.
func oneLine(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) == 1 {
		return s
	}
	return fmt.Sprintf("%s (and %d more problems)", lines[0], len(lines)-1)
}
