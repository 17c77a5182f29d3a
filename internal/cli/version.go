package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the bpfmatrix version and the Go module versions it was built with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info, ok := debug.ReadBuildInfo()
			if !ok {
				fmt.Fprintln(g.stdout, "bpfmatrix (unknown build)")
				return nil
			}
			rev := "devel"
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" {
					rev = s.Value
				}
			}
			fmt.Fprintf(g.stdout, "bpfmatrix %s (%s, %s)\n", info.Main.Version, rev, info.GoVersion)
			for _, d := range info.Deps {
				if d.Path == "github.com/cilium/ebpf" {
					fmt.Fprintf(g.stdout, "cilium/ebpf %s\n", d.Version)
				}
			}
			return nil
		},
	}
}
