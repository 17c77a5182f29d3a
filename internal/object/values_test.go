package object

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestValues: what --set, --attach-target and --values accept, how each
// value is encoded for its variable, and the one-line error for each kind
// of bad input.
func TestValues(t *testing.T) {
	uv, err := Open(filepath.Join(objects, "user_values.o"))
	require.NoError(t, err)
	so, err := Open(filepath.Join(objects, "same_object.o"))
	require.NoError(t, err)
	objs := []*Object{uv, so}

	t.Run("resolved", func(t *testing.T) {
		var v Values
		require.NoError(t, v.Set("rodata.targ_pid=0x10"))
		require.NoError(t, v.Set("rodata.targ_comm=bash"))
		require.NoError(t, v.Set("map.max_entries=64"))
		require.NoError(t, v.AttachTarget("file_open_fentry=security_file_open"))
		ovs, err := v.Resolve(objs)
		require.NoError(t, err)
		require.Len(t, ovs, 2)
		assert.Equal(t, uint32(16), binary.LittleEndian.Uint32(ovs[0].Variables["targ_pid"]))
		assert.Equal(t, append([]byte("bash"), make([]byte, 12)...), ovs[0].Variables["targ_comm"])
		assert.Equal(t, map[string]uint32{"counts": 64}, ovs[0].MaxEntries, "map.max_entries: every map with 0")
		assert.Equal(t, map[string]string{"file_open_fentry": "security_file_open"}, ovs[0].AttachTargets)
		assert.Empty(t, ovs[1], "nothing applies to same_object.o")
		assert.Equal(t, []string{"--set", "rodata.targ_pid=0x10", "--set", "rodata.targ_comm=bash", "--set", "map.max_entries=64", "--attach-target", "file_open_fentry=security_file_open"}, v.Args())

		spec := uv.Spec.Copy()
		require.NoError(t, ovs[0].Apply(spec))
		assert.Equal(t, uint32(64), spec.Maps["counts"].MaxEntries)
		assert.Equal(t, "security_file_open", spec.Programs["file_open_fentry"].AttachTo)
		assert.Zero(t, uv.Spec.Maps["counts"].MaxEntries, "the object's own spec is untouched")
	})

	t.Run("file", func(t *testing.T) {
		for name, text := range map[string]string{
			"values.yaml": "set:\n  rodata.targ_pid: 7\n  map.counts.max_entries: 1024\nattach_target:\n  file_open_fentry: vfs_open\n",
			"values.json": `{"set": {"rodata.targ_pid": 7, "map.counts.max_entries": 1024}, "attach_target": {"file_open_fentry": "vfs_open"}}`,
		} {
			path := filepath.Join(t.TempDir(), name)
			require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
			var v Values
			require.NoError(t, v.ReadFile(path), name)
			ovs, err := v.Resolve(objs)
			require.NoError(t, err, name)
			assert.Equal(t, uint32(7), binary.LittleEndian.Uint32(ovs[0].Variables["targ_pid"]), name)
			assert.Equal(t, uint32(1024), ovs[0].MaxEntries["counts"], name)
			assert.Equal(t, "vfs_open", ovs[0].AttachTargets["file_open_fentry"], name)
		}
	})

	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
		return p
	}
	unknownKey := write("unknown.yaml", "set:\n  rodata.targ_pid: 1\nattach:\n  x: y\n")
	nested := write("nested.yaml", "set:\n  rodata.targ_pid: [1, 2]\n")
	for _, tc := range []struct {
		name string
		add  func(*Values) error
		want string
	}{
		{"no =", func(v *Values) error { return v.Set("rodata.targ_pid") }, "--set rodata.targ_pid: want KEY=VALUE"},
		{"unknown section", func(v *Values) error { return v.Set("text.x=1") }, `--set text.x=1: unknown key "text.x"`},
		{"map field", func(v *Values) error { return v.Set("map.counts.key_size=4") }, "want map.NAME.max_entries=N or map.max_entries=N"},
		{"max_entries 0", func(v *Values) error { return v.Set("map.counts.max_entries=0") }, "max_entries wants a positive 32-bit integer"},
		{"no such variable", func(v *Values) error { return v.Set("rodata.targ_tid=1") }, "--set rodata.targ_tid=1: no object has a variable targ_tid in .rodata (its variables: targ_comm, targ_pid)"},
		{"wrong section", func(v *Values) error { return v.Set("bss.targ_pid=1") }, "no object has a variable targ_pid in .bss (its variables: calls)"},
		{"too big", func(v *Values) error { return v.Set("rodata.targ_pid=4294967296") }, "--set rodata.targ_pid=4294967296: targ_pid is __u32 (4 bytes, unsigned): 4294967296 does not fit"},
		{"negative unsigned", func(v *Values) error { return v.Set("rodata.targ_pid=-1") }, "does not fit"},
		{"not a number", func(v *Values) error { return v.Set("rodata.targ_pid=one") }, `targ_pid is __u32 (4 bytes): "one" is not an integer`},
		{"string too long", func(v *Values) error { return v.Set("rodata.targ_comm=0123456789abcdef") }, "targ_comm is char[16]"},
		{"no such map", func(v *Values) error { return v.Set("map.events.max_entries=8") }, "no object has a map events (maps: .bss, .rodata, counts)"},
		{"attach target syntax", func(v *Values) error { return v.AttachTarget("file_open_fentry") }, "--attach-target file_open_fentry: want PROGRAM=FUNCTION"},
		{"attach target of no program", func(v *Values) error { return v.AttachTarget("nope=vfs_open") }, "no object has a program nope (programs with attach targets: file_open_fentry, replace_handle_packet, trace_handle_packet, trace_xdp_main)"},
		{"attach target of a kprobe", func(v *Values) error { return v.AttachTarget("count_unlink=vfs_open") }, "program count_unlink of " + filepath.Join(objects, "user_values.o") + " is Kprobe, which takes no attach target"},
		{"file missing", func(v *Values) error { return v.ReadFile(filepath.Join(dir, "nope.yaml")) }, "--values " + filepath.Join(dir, "nope.yaml") + ": no such file or directory"},
		{"file unknown key", func(v *Values) error { return v.ReadFile(unknownKey) }, "--values " + unknownKey + ": line 3: field attach not found"},
		{"file nested value", func(v *Values) error { return v.ReadFile(nested) }, "set: rodata.targ_pid: want a number, boolean or string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v Values
			err := tc.add(&v)
			if err == nil {
				err = v.Check(objs)
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrBadValue)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}
