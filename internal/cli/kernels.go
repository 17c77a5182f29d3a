package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newKernelsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "kernels",
		Short: "not implemented yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("kernels: not implemented yet")
		},
	}
}
