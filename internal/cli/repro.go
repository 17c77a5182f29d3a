package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func newReproCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "repro",
		Short: "not implemented yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("repro: not implemented yet")
		},
	}
}
