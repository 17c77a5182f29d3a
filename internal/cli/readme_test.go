package cli

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeCommands returns every bpfmatrix command line of the README's shell
// blocks, without comments and anything after a pipe.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	require.NoError(t, err)
	defer f.Close()
	var cmds []string
	inSh := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			inSh = true
			continue
		case strings.HasPrefix(line, "```"):
			inSh = false
			continue
		}
		line = strings.TrimSpace(line)
		if !inSh || !strings.HasPrefix(line, "bpfmatrix ") {
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if i := strings.Index(line, " |"); i >= 0 {
			line = line[:i]
		}
		cmds = append(cmds, strings.TrimSpace(line))
	}
	require.NoError(t, sc.Err())
	return cmds
}

// TestREADMECommands: every bpfmatrix command the README shows names a real
// subcommand and only flags it has, so a user who copies one gets the
// command, not a usage error. (Running them needs kernels and objects the
// README names as placeholders; the tests in tests/ run each command.)
func TestREADMECommands(t *testing.T) {
	cmds := readmeCommands(t)
	require.Greater(t, len(cmds), 20, "README command lines")
	seen := map[string]bool{}
	for _, line := range cmds {
		t.Run(line, func(t *testing.T) {
			root := newRootCmd(&globals{})
			args := strings.Fields(line)[1:]
			cmd, rest, err := root.Find(args)
			require.NoError(t, err)
			require.NotSame(t, root, cmd, "%q names no subcommand", line)
			seen[cmd.CommandPath()] = true
			assert.NoError(t, cmd.ParseFlags(rest))
			if cmd.Args != nil {
				assert.NoError(t, cmd.ValidateArgs(cmd.Flags().Args()))
			}
		})
	}
	// Every subcommand has an example in the README.
	for _, c := range newRootCmd(&globals{}).Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		found := false
		for p := range seen {
			found = found || strings.HasPrefix(p, "bpfmatrix "+c.Name())
		}
		assert.True(t, found, "bpfmatrix %s has no example in the README", c.Name())
	}
}
