package verifier

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTargetInObject: which fentry/fexit/freplace programs are loaded
// against a program of their own object, on real objects
// (tests/testdata/thirdparty/*/PROVENANCE).
func TestTargetInObject(t *testing.T) {
	tests := []struct {
		object, program string
		target          string
	}{
		// cilium/ebpf: SEC("fentry/target") on the tc program "target".
		{"cilium-ebpf/fentry_fexit-el.elf", "trace_on_entry", "target"},
		{"cilium-ebpf/fentry_fexit-el.elf", "trace_on_exit", "target"},
		// cilium/ebpf: freplace of a global function of the same object.
		{"cilium-ebpf/freplace-el.elf", "replacement", "sched_process_exec"},
		// libbpf-tools' klockstat: SEC("fexit/mutex_lock") beside
		// SEC("fentry/mutex_lock") int mutex_lock(...): the kernel's
		// function, never the tracing program ("Cannot recursively attach").
		{"libbpf-tools/klockstat.bpf.o", "mutex_lock_exit", ""},
		{"libbpf-tools/klockstat.bpf.o", "mutex_lock", ""},
	}
	for _, tc := range tests {
		t.Run(tc.object+"/"+tc.program, func(t *testing.T) {
			spec, err := ebpf.LoadCollectionSpec("../../tests/testdata/thirdparty/" + tc.object)
			require.NoError(t, err)
			require.Contains(t, spec.Programs, tc.program)
			assert.Equal(t, tc.target, TargetInObject(spec, tc.program))
		})
	}
}
