package fetch_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/bpfmatrix/bpfmatrix/internal/fetch"
)

// TestModuleIndex builds the module index of real Debian kernels from their
// packages (6.1's modules are plain .ko, 6.12's .ko.xz) and checks what
// their sources say: nf_conntrack, nf_nat, fou and tcp_bbr define kfuncs,
// vmlinux's own kfuncs are not indexed. No module of Debian's cloud kernels
// registers a struct_ops type (6.12 has CONFIG_HID_BPF, the one user in
// mainline modules, unset), so their struct_ops maps are empty.
func TestModuleIndex(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		kernel    string
		structOps map[string]string
	}{
		{"debian-6.1", map[string]string{}},
		{"debian-6.12", map[string]string{}},
	} {
		t.Run(tc.kernel, func(t *testing.T) {
			spec, err := catalog.Default().Lookup(tc.kernel)
			require.NoError(t, err)
			cache := t.TempDir()
			f, err := fetch.New(fetch.Options{CacheDir: cache})
			require.NoError(t, err)
			idx, err := f.ModuleIndex(ctx, spec)
			require.NoError(t, err)
			k, ok := f.Cached(spec)
			require.True(t, ok)
			assert.Equal(t, k.Release, idx.Release)
			assert.True(t, strings.HasPrefix(idx.Package, "debian "), idx.Package)
			assert.Greater(t, idx.Modules, 500)
			for kfunc, mod := range map[string]string{
				"bpf_xdp_ct_lookup":     "nf_conntrack",
				"bpf_skb_ct_lookup":     "nf_conntrack",
				"bpf_ct_release":        "nf_conntrack",
				"bpf_ct_set_nat_info":   "nf_nat",
				"bpf_skb_set_fou_encap": "fou",
				"bbr_init":              "tcp_bbr",
				"bpf_skb_set_xfrm_info": "xfrm_interface",
			} {
				if tc.kernel == "debian-6.1" && (kfunc == "bpf_skb_set_fou_encap" || kfunc == "bpf_skb_set_xfrm_info") {
					continue // both arrived in 6.2
				}
				assert.Equal(t, mod, idx.Kfuncs[kfunc], kfunc)
			}
			for _, builtin := range []string{"bpf_obj_new_impl", "bpf_cast_to_kern_ctx", "bpf_task_acquire", "cubictcp_init"} {
				assert.NotContains(t, idx.Kfuncs, builtin)
			}
			assert.Equal(t, tc.structOps, idx.StructOps)

			// Kept in the cache and verified as the image is: a second
			// fetcher answers offline; a damaged index leaves the kernel a
			// hit without one, and is built again.
			require.NotEmpty(t, k.Modules)
			offline, err := fetch.New(fetch.Options{CacheDir: cache, HTTPClient: &http.Client{Transport: noNetwork{t}}})
			require.NoError(t, err)
			again, err := offline.ModuleIndex(ctx, spec)
			require.NoError(t, err)
			assert.Equal(t, idx, again)
			require.NoError(t, os.WriteFile(k.Modules, []byte(`{"schema":1,"kfuncs":{}}`), 0o644))
			damaged, ok := offline.Cached(spec)
			require.True(t, ok, "a damaged module index leaves the kernel a hit")
			assert.Empty(t, damaged.Modules)
			if tc.kernel == "debian-6.1" {
				rebuilt, err := f.ModuleIndex(ctx, spec)
				require.NoError(t, err)
				assert.Equal(t, idx, rebuilt)
			}
		})
	}
}
