package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bpfmatrix/bpfmatrix/internal/matrix"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

func newDiffCmd(g *globals) *cobra.Command {
	var format, oldKernel, newKernel string
	cmd := &cobra.Command{
		Use:   "diff OLD.json NEW.json",
		Short: "Show features and verifier outcomes gained and lost per kernel",
		Long: `diff compares two matrix.json files kernel by kernel (matched by name) and lists
features and verifier outcomes gained and lost, and other changes (a cell that
became or stopped being inconclusive, a feature probed on one side only, a
kernel added, removed or newly failing).

Exit status: 0 when nothing was lost, 1 when something was lost (a feature or
verifier case went from supported/accepted to unsupported/rejected, or a kernel
that booted before fails now), 2 on bad input. Inconclusive is never a loss, and
neither is present (the kernel declares the feature in its BTF but no probe
could judge it): supported -> present and present -> unsupported are changes,
not losses, and unsupported -> present is a change, not a gain. A kfunc in one
kernel's kfunc list and absent from the other's is gained or lost.

--old-kernel and --new-kernel compare two kernels of different names (debian-7.2
against debian-7.3, from one matrix.json or two).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "markdown" {
				return usageError("diff: --format %q: want text or markdown", format)
			}
			old, err := readMatrix(args[0])
			if err != nil {
				return err
			}
			cur, err := readMatrix(args[1])
			if err != nil {
				return err
			}
			var d *matrix.Diff
			if oldKernel != "" || newKernel != "" {
				ok, nk := findKernel(old, oldKernel), findKernel(cur, newKernel)
				if ok == nil || nk == nil {
					return usageError("diff: --old-kernel %q and --new-kernel %q must name a kernel of OLD.json and NEW.json", oldKernel, newKernel)
				}
				d = matrix.CompareKernels(ok, nk)
			} else {
				d = matrix.Compare(old, cur)
			}
			if format == "markdown" {
				err = d.WriteMarkdown(g.stdout)
			} else {
				err = d.WriteText(g.stdout)
			}
			if err != nil {
				return fmt.Errorf("diff: %w", err)
			}
			if n := d.Losses(); n > 0 {
				fmt.Fprintf(g.stderr, "diff: %d lost\n", n)
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or markdown")
	cmd.Flags().StringVar(&oldKernel, "old-kernel", "", "compare only this kernel of OLD.json against --new-kernel of NEW.json (two versions under different names; the files may be the same)")
	cmd.Flags().StringVar(&newKernel, "new-kernel", "", "the kernel of NEW.json to compare --old-kernel with")
	return cmd
}

// findKernel returns the kernel of m named name, or nil.
func findKernel(m *result.Matrix, name string) *result.KernelResult {
	for i := range m.Kernels {
		if m.Kernels[i].Kernel.Name == name {
			return &m.Kernels[i]
		}
	}
	return nil
}
