package observe

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/kconfig"
	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// TestExplain: the order of reasons is version, then arch, then config, and
// a kernel that has everything gets none.
func TestExplain(t *testing.T) {
	fentry := trampoline("5.5", "fec56f5890d9")
	multi := need{version: "5.18", config: []string{"CONFIG_FPROBE"}}
	cfg61 := kconfig.Config{"CONFIG_DEBUG_INFO_BTF": "y", "CONFIG_FPROBE": "n"}
	for _, tc := range []struct {
		name   string
		kernel Kernel
		need   need
		want   result.ReasonKind // "" for no reason
		detail string
	}{
		{"fentry on 6.1 x86_64", Kernel{Version: "6.1", Arch: "x86_64", Config: cfg61}, fentry, "", ""},
		{"fentry on 6.1 arm64", Kernel{Version: "6.1", Arch: "arm64", Config: cfg61}, fentry, result.ReasonArch, "6.4"},
		{"fentry on 6.12 arm64", Kernel{Version: "6.12", Arch: "arm64", Config: cfg61}, fentry, "", ""},
		{"fentry on 5.4", Kernel{Version: "5.4", Arch: "x86_64", Config: cfg61}, fentry, result.ReasonVersion, "5.5"},
		{"kprobe_multi on 5.10", Kernel{Version: "5.10", Arch: "x86_64", Config: cfg61}, multi, result.ReasonVersion, "5.18"},
		{"kprobe_multi on 6.1", Kernel{Version: "6.1", Arch: "x86_64", Config: cfg61}, multi, result.ReasonConfig, "CONFIG_FPROBE"},
		{"kprobe_multi, config unknown", Kernel{Version: "6.1", Arch: "x86_64"}, multi, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.kernel.explain(tc.need)
			if tc.want == "" {
				assert.Nil(t, r)
				return
			}
			if assert.NotNil(t, r) {
				assert.Equal(t, tc.want, r.Kind)
				assert.Contains(t, r.Version+r.Config, tc.detail)
			}
		})
	}
}

func TestErrnoName(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("attach: %w", unix.Errno(524)), "ENOTSUPP"},
		{fmt.Errorf("attach: %w", unix.EOPNOTSUPP), "EOPNOTSUPP"},
		{fmt.Errorf("load: %w", unix.EINVAL), "EINVAL"},
		{fmt.Errorf("no errno"), ""},
	} {
		assert.Equal(t, tc.want, errnoName(tc.err), tc.err.Error())
	}
}
