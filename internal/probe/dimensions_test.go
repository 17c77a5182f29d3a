package probe

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// The kfunc sets kallsyms names on 6.12 are the FUNCs its BTF tags
// bpf_kfunc, but for the three fmodret targets (in set8 fmodret sets,
// which pahole tags too): the fallback for kernels without tags (6.1)
// reads what the tags say where both exist.
func TestKfuncSetMembersMatchTags(t *testing.T) {
	ks, err := os.ReadFile("testdata/kallsyms-btf-id-debian-6.12.txt")
	require.NoError(t, err)
	tags, err := os.ReadFile("testdata/kfunc-tags-debian-6.12.txt")
	require.NoError(t, err)
	want := map[string]bool{}
	for _, n := range strings.Fields(string(tags)) {
		want[n] = true
	}
	for _, fmodret := range []string{"bpf_fentry_test1", "bpf_modify_return_test", "bpf_modify_return_test2"} {
		require.True(t, want[fmodret], fmodret)
		delete(want, fmodret)
	}
	got := kfuncSetMembers(ks)
	require.Len(t, got, len(want))
	for _, n := range got {
		assert.True(t, want[n], "%s is in a kfunc set but not tagged", n)
	}
	assert.Contains(t, got, "bpf_rcu_read_lock")
	assert.NotContains(t, got, "bpf_fentry_test1")
}

// The BTF blobs are libbpf's FEAT_BTF_* probes; the host kernel (6.18)
// accepts every one, and a blob with a kind from the future is refused.
func TestBTFFeatureBlobsLoadOnHost(t *testing.T) {
	require.True(t, CheckPrivilege(), "needs root")
	for name, blob := range btfFeatureBlobs {
		t.Run(name, func(t *testing.T) {
			fd, err := loadBTF(blob)
			require.NoError(t, err)
			require.NoError(t, unix.Close(fd))
		})
	}
	bad := btfBlob([]uint32{1, btfInfo(31, 0), 4}, "\x00x\x00")
	_, err := loadBTF(bad)
	require.Error(t, err)
}

// On the host (6.18, kfunc tags) every row of the new dimensions has a
// status and reason like any other cell.
func TestDimensionsOnHost(t *testing.T) {
	kr := hostResult(t)
	list := find(t, kr, result.KindKfunc, "", "bpf_rcu_read_lock")
	assert.Equal(t, result.Supported, list.Status)
	assert.Contains(t, list.Value, "bpf_kfunc decl tag")
	assert.Equal(t, result.Supported, find(t, kr, result.KindKfunc, "tracing", "bpf_rcu_read_lock").Status)
	// bpf_dynptr_from_skb: registered for TC, XDP-less network hooks, not kprobes.
	assert.Equal(t, result.Supported, find(t, kr, result.KindKfunc, "sched_cls", "bpf_dynptr_from_skb").Status)
	notOffered := find(t, kr, result.KindKfunc, "kprobe", "bpf_dynptr_from_skb")
	require.Equal(t, result.Unsupported, notOffered.Status)
	assert.Equal(t, result.ReasonProgramType, notOffered.Reason.Kind)
	for _, n := range []string{"btf", "func", "func_linkage", "datasec", "qmark_datasec", "float", "decl_tag", "type_tag", "enum64"} {
		assert.Equal(t, result.Supported, find(t, kr, result.KindBTF, "", n).Status, n)
	}
	assert.Equal(t, result.Supported, find(t, kr, result.KindStructOps, "", "tcp_congestion_ops").Status)
	// bpf_dummy_ops.test_sleepable exists to be sleepable; test_1 is not.
	assert.Equal(t, result.Supported, find(t, kr, result.KindStructOps, "", "bpf_dummy_ops.test_sleepable:sleepable").Status)
	for _, f := range kr.Features {
		if f.Kind == result.KindKfunc || f.Kind == result.KindBTF || f.Kind == result.KindStructOps {
			if f.Status == result.Unsupported {
				assert.NotNil(t, f.Reason, f.Key())
			}
		}
	}
}
