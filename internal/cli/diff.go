package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newDiffCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "diff",
		Short: "not implemented yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("diff: not implemented yet")
		},
	}
}
