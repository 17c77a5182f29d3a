package cli

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExecEnv(t *testing.T) {
	host := []string{"PATH=/usr/bin", "HOME=/home/u", "CI=true", "SSH_AUTH_SOCK=/tmp/agent", "XDG_RUNTIME_DIR=/run/user/1000", "GOFLAGS=-mod=mod", "TERM=xterm", "_=/usr/bin/go"}
	for _, tc := range []struct {
		name  string
		extra []string
		want  []string
		bad   bool
	}{
		{"host only", nil, []string{"CI=true", "GOFLAGS=-mod=mod", "BPFMATRIX_KERNEL=debian-6.1"}, false},
		{"extra wins last", []string{"CI=false", "EMPTY="}, []string{"CI=true", "GOFLAGS=-mod=mod", "BPFMATRIX_KERNEL=debian-6.1", "CI=false", "EMPTY="}, false},
		{"no equals", []string{"FOO"}, nil, true},
		{"no name", []string{"=x"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := execEnv(host, tc.extra, "debian-6.1")
			if tc.bad {
				var ee *ExitError
				require.True(t, errors.As(err, &ee), "%v", err)
				assert.Equal(t, 2, ee.Code)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, env)
		})
	}
}
