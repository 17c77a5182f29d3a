package rlimit

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestRaiseMemlock: afterwards the soft limit is the hard one, and the result
// says whether that is infinity. (The development host's root lacks
// CAP_SYS_RESOURCE, its hard limit is 8 MiB: ErrMemlockLimited; guests reach
// infinity.)
func TestRaiseMemlock(t *testing.T) {
	err := RaiseMemlock()
	var cur unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_MEMLOCK, &cur))
	assert.Equal(t, cur.Max, cur.Cur, "soft limit raised to the hard one")
	if cur.Max == unix.RLIM_INFINITY {
		assert.NoError(t, err)
	} else {
		assert.ErrorIs(t, err, ErrMemlockLimited)
	}
}
