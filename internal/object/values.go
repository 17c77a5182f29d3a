package object

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"go.yaml.in/yaml/v3"
)

// Values are what user space sets before it loads an object, given on the
// host so that a program is checked with the values it runs with:
//
//	rodata.NAME=V            a variable of .rodata (const volatile), likewise
//	data.NAME=V, bss.NAME=V  for .data and .bss: an integer (decimal, 0x..),
//	                         true/false for bool, an enumerator's name, or a
//	                         string for a char array
//	map.NAME.max_entries=N   a map's max_entries
//	map.max_entries=N        max_entries of every map that has 0
//	PROG=FUNC (AttachTarget) the function a tracing, LSM or freplace program
//	                         attaches to, in place of its section's
//
// A name applies to every object that has it. Check refuses, in one line,
// an assignment that fits no object or a value its variable cannot hold.
// The zero value (and nil) sets nothing.
type Values struct {
	set    []assignment
	attach []assignment
}

type assignment struct {
	// key and value as given (for Args and errors).
	key, value string
	// origin prefixes errors: "--set rodata.x=1" or "values.yaml: set: rodata.x".
	origin string
	// section is "rodata", "data" or "bss" for a variable, "map" for max_entries.
	section, name string
}

// ErrBadValue is wrapped by every error about a value.
var ErrBadValue = errors.New("bad value")

type valueError struct{ msg string }

func (e *valueError) Error() string        { return e.msg }
func (e *valueError) Is(target error) bool { return target == ErrBadValue }

func valueErrorf(format string, args ...any) error {
	return &valueError{msg: fmt.Sprintf(format, args...)}
}

// Set adds one KEY=VALUE assignment (the --set flag).
func (v *Values) Set(kv string) error {
	key, value, ok := strings.Cut(kv, "=")
	if !ok {
		return valueErrorf("--set %s: want KEY=VALUE (rodata.NAME=V, data.NAME=V, bss.NAME=V, map.NAME.max_entries=N)", kv)
	}
	return v.set1(key, value, "--set "+kv)
}

func (v *Values) set1(key, value, origin string) error {
	a := assignment{key: key, value: value, origin: origin}
	section, rest, _ := strings.Cut(key, ".")
	switch section {
	case "rodata", "data", "bss":
		if rest == "" || strings.Contains(rest, ".") {
			return valueErrorf("%s: want %s.NAME, the name of a variable in .%s", origin, section, section)
		}
		a.section, a.name = section, rest
	case "map":
		name, field, found := strings.Cut(rest, ".")
		if !found {
			name, field = "", name
		}
		if field != "max_entries" {
			return valueErrorf("%s: want map.NAME.max_entries=N or map.max_entries=N (max_entries is the one map setting user space changes here)", origin)
		}
		if _, err := strconv.ParseUint(value, 0, 32); err != nil || value == "0" {
			return valueErrorf("%s: max_entries wants a positive 32-bit integer", origin)
		}
		a.section, a.name = "map", name
	default:
		return valueErrorf("%s: unknown key %q (want rodata.NAME, data.NAME, bss.NAME or map.NAME.max_entries)", origin, key)
	}
	v.set = append(v.set, a)
	return nil
}

// AttachTarget adds one PROG=FUNC attach target (the --attach-target flag).
func (v *Values) AttachTarget(kv string) error {
	return v.attach1(kv, "--attach-target "+kv)
}

func (v *Values) attach1(kv, origin string) error {
	prog, fn, ok := strings.Cut(kv, "=")
	if !ok || prog == "" || fn == "" {
		return valueErrorf("%s: want PROGRAM=FUNCTION", origin)
	}
	v.attach = append(v.attach, assignment{key: prog, value: fn, origin: origin, name: prog})
	return nil
}

// valuesFile is the --values file: YAML or JSON (a YAML subset).
//
//	set:
//	  rodata.targ_pid: 1
//	  map.events.max_entries: 1024
//	attach_target:
//	  handle_open: do_sys_openat2
type valuesFile struct {
	Set          yaml.Node `yaml:"set"`
	AttachTarget yaml.Node `yaml:"attach_target"`
}

// ReadFile adds the assignments of a values file (the --values flag):
// YAML or JSON with "set" (KEY: VALUE, as --set) and "attach_target"
// (PROGRAM: FUNCTION, as --attach-target). Unknown keys are refused.
func (v *Values) ReadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return valueErrorf("--values %s: %v", path, pe.Err)
		}
		return valueErrorf("--values %s: %v", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var f valuesFile
	if err := dec.Decode(&f); err != nil {
		msg := strings.TrimPrefix(oneLine(err.Error()), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors: ")
		msg = strings.ReplaceAll(msg, " in type object.valuesFile", "")
		return valueErrorf("--values %s: %s (want set: {KEY: VALUE} and attach_target: {PROGRAM: FUNCTION})", path, msg)
	}
	pairs := func(n *yaml.Node, what string) ([][2]string, error) {
		if n.Kind == 0 {
			return nil, nil
		}
		if n.Kind != yaml.MappingNode {
			return nil, valueErrorf("--values %s: line %d: %s: want a mapping of KEY: VALUE", path, n.Line, what)
		}
		var out [][2]string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if val.Kind != yaml.ScalarNode {
				return nil, valueErrorf("--values %s: line %d: %s: %s: want a number, boolean or string", path, val.Line, what, k.Value)
			}
			out = append(out, [2]string{k.Value, val.Value})
		}
		return out, nil
	}
	sets, err := pairs(&f.Set, "set")
	if err != nil {
		return err
	}
	for _, p := range sets {
		if err := v.set1(p[0], p[1], fmt.Sprintf("--values %s: set: %s", path, p[0])); err != nil {
			return err
		}
	}
	targets, err := pairs(&f.AttachTarget, "attach_target")
	if err != nil {
		return err
	}
	for _, p := range targets {
		if err := v.attach1(p[0]+"="+p[1], fmt.Sprintf("--values %s: attach_target: %s", path, p[0])); err != nil {
			return err
		}
	}
	return nil
}

// Empty says whether v sets nothing.
func (v *Values) Empty() bool { return v == nil || len(v.set) == 0 && len(v.attach) == 0 }

// Args are the command-line flags that give the same values.
func (v *Values) Args() []string {
	if v == nil {
		return nil
	}
	var args []string
	for _, a := range v.set {
		args = append(args, "--set", a.key+"="+a.value)
	}
	for _, a := range v.attach {
		args = append(args, "--attach-target", a.key+"="+a.value)
	}
	return args
}

// ObjectValues are the values that apply to one object, resolved on the
// host: variables as the bytes to load (in the object's byte order).
type ObjectValues struct {
	Variables     map[string][]byte `json:"variables,omitempty"`
	MaxEntries    map[string]uint32 `json:"max_entries,omitempty"`
	AttachTargets map[string]string `json:"attach_targets,omitempty"`
}

// Check resolves v against objs and returns the first problem: an
// assignment no object has a place for, a value that does not fit its
// variable, an attach target for a program that takes none.
func (v *Values) Check(objs []*Object) error {
	_, err := v.Resolve(objs)
	return err
}

// Encode is Resolve as JSON: what the agent's load --values takes.
func (v *Values) Encode(objs []*Object) ([]byte, error) {
	ovs, err := v.Resolve(objs)
	if err != nil {
		return nil, err
	}
	return json.Marshal(ovs)
}

// Resolve returns the values for each object of objs, in order.
func (v *Values) Resolve(objs []*Object) ([]ObjectValues, error) {
	ovs := make([]ObjectValues, len(objs))
	if v == nil {
		return ovs, nil
	}
	for _, a := range v.set {
		used := false
		for i, o := range objs {
			ok, err := a.resolve(o, &ovs[i])
			if err != nil {
				return nil, err
			}
			used = used || ok
		}
		if !used {
			return nil, a.nowhere(objs)
		}
	}
	for _, a := range v.attach {
		used := false
		for i, o := range objs {
			if o.Spec == nil {
				continue
			}
			ps := o.Spec.Programs[a.name]
			if ps == nil {
				continue
			}
			switch ps.Type {
			case ebpf.Tracing, ebpf.LSM, ebpf.Extension:
			default:
				return nil, valueErrorf("%s: program %s of %s is %s, which takes no attach target", a.origin, a.name, o.Path, ps.Type)
			}
			if ovs[i].AttachTargets == nil {
				ovs[i].AttachTargets = map[string]string{}
			}
			ovs[i].AttachTargets[a.name] = a.value
			used = true
		}
		if !used {
			var names []string
			for _, o := range objs {
				if o.Spec == nil {
					continue
				}
				for name, ps := range o.Spec.Programs {
					if ps.Type == ebpf.Tracing || ps.Type == ebpf.LSM || ps.Type == ebpf.Extension {
						names = append(names, name)
					}
				}
			}
			return nil, valueErrorf("%s: no object has a program %s (programs with attach targets: %s)", a.origin, a.name, listOrNone(names))
		}
	}
	return ovs, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ", ")
}

// nowhere is the error for an assignment that fits no object.
func (a assignment) nowhere(objs []*Object) error {
	var names []string
	for _, o := range objs {
		if o.Spec == nil {
			continue
		}
		if a.section == "map" {
			for name, ms := range o.Spec.Maps {
				if a.name != "" || needsMaxEntries(ms) {
					names = append(names, name)
				}
			}
			continue
		}
		for name, vs := range o.Spec.Variables {
			if inSection(vs, a.section) {
				names = append(names, name)
			}
		}
	}
	switch {
	case a.section == "map" && a.name == "":
		return valueErrorf("%s: no map has max_entries 0", a.origin)
	case a.section == "map":
		return valueErrorf("%s: no object has a map %s (maps: %s)", a.origin, a.name, listOrNone(names))
	}
	return valueErrorf("%s: no object has a variable %s in .%s (its variables: %s)", a.origin, a.name, a.section, listOrNone(names))
}

func inSection(vs *ebpf.VariableSpec, section string) bool {
	s := strings.TrimPrefix(vs.SectionName, ".")
	return s == section || strings.HasPrefix(s, section+".")
}

// needsMaxEntries says whether the kernel refuses ms as it stands for want
// of a max_entries (cilium/ebpf sizes perf event arrays to the CPUs itself).
func needsMaxEntries(ms *ebpf.MapSpec) bool {
	return ms.MaxEntries == 0 && ms.Type != ebpf.PerfEventArray
}

// resolve puts a into ov if o has a place for it.
func (a assignment) resolve(o *Object, ov *ObjectValues) (bool, error) {
	if o.Spec == nil {
		return false, nil
	}
	if a.section == "map" {
		n, _ := strconv.ParseUint(a.value, 0, 32)
		used := false
		for name, ms := range o.Spec.Maps {
			if a.name == name || a.name == "" && needsMaxEntries(ms) {
				if ov.MaxEntries == nil {
					ov.MaxEntries = map[string]uint32{}
				}
				ov.MaxEntries[name] = uint32(n)
				used = true
			}
		}
		return used, nil
	}
	vs := o.Spec.Variables[a.name]
	if vs == nil || !inSection(vs, a.section) {
		return false, nil
	}
	b, err := encodeVariable(vs, a.value, o.Spec.ByteOrder)
	if err != nil {
		return false, valueErrorf("%s: %v", a.origin, err)
	}
	if ov.Variables == nil {
		ov.Variables = map[string][]byte{}
	}
	ov.Variables[a.name] = b
	return true, nil
}

// encodeVariable turns s into the bytes of vs's type.
func encodeVariable(vs *ebpf.VariableSpec, s string, bo binary.ByteOrder) ([]byte, error) {
	if vs.Type == nil {
		return nil, fmt.Errorf("variable %s has no BTF type, so its value cannot be encoded", vs.Name)
	}
	size := int(vs.Size())
	typ := btf.UnderlyingType(vs.Type.Type)
	buf := make([]byte, size)
	switch t := typ.(type) {
	case *btf.Int:
		if t.Encoding == btf.Bool {
			switch s {
			case "true", "1":
				buf[0] = 1
			case "false", "0":
			default:
				return nil, fmt.Errorf("%s is bool: want true or false", vs.Name)
			}
			return buf, nil
		}
		return putInt(buf, s, t.Encoding == btf.Signed, vs.Name, declaredName(vs.Type.Type), bo)
	case *btf.Enum:
		for _, v := range t.Values {
			if v.Name == s {
				s = strconv.FormatUint(v.Value, 10)
				if t.Signed {
					s = strconv.FormatInt(int64(v.Value), 10)
				}
			}
		}
		return putInt(buf, s, t.Signed, vs.Name, "enum "+t.Name, bo)
	case *btf.Array:
		if el, ok := btf.UnderlyingType(t.Type).(*btf.Int); ok && el.Size == 1 {
			if len(s) >= size {
				return nil, fmt.Errorf("%s is char[%d]: %q needs %d bytes with its NUL", vs.Name, size, s, len(s)+1)
			}
			copy(buf, s)
			return buf, nil
		}
	}
	return nil, fmt.Errorf("%s is %s: only integers, bools, enums and char arrays can be set here", vs.Name, typ)
}

func putInt(buf []byte, s string, signed bool, name, typ string, bo binary.ByteOrder) ([]byte, error) {
	n, ok := new(big.Int).SetString(s, 0)
	if !ok {
		return nil, fmt.Errorf("%s is %s (%d bytes): %q is not an integer", name, typ, len(buf), s)
	}
	bits := uint(len(buf) * 8)
	lo, hi := new(big.Int), new(big.Int).Lsh(big.NewInt(1), bits)
	if signed {
		lo.Neg(new(big.Int).Lsh(big.NewInt(1), bits-1))
		hi.Lsh(big.NewInt(1), bits-1)
	}
	if n.Cmp(lo) < 0 || n.Cmp(hi) >= 0 {
		sign := "unsigned"
		if signed {
			sign = "signed"
		}
		return nil, fmt.Errorf("%s is %s (%d bytes, %s): %s does not fit", name, typ, len(buf), sign, s)
	}
	var u uint64
	if n.Sign() < 0 {
		u = uint64(n.Int64())
	} else {
		u = n.Uint64()
	}
	switch len(buf) {
	case 1:
		buf[0] = byte(u)
	case 2:
		bo.PutUint16(buf, uint16(u))
	case 4:
		bo.PutUint32(buf, uint32(u))
	case 8:
		bo.PutUint64(buf, u)
	default:
		return nil, fmt.Errorf("%s is %s of %d bytes: not an integer size", name, typ, len(buf))
	}
	return buf, nil
}

// declaredName is a variable type's name as declared (__u32, not unsigned
// int), without const and volatile.
func declaredName(t btf.Type) string {
	for {
		switch q := t.(type) {
		case *btf.Const:
			t = q.Type
		case *btf.Volatile:
			t = q.Type
		case *btf.Restrict:
			t = q.Type
		default:
			if n := t.TypeName(); n != "" {
				return n
			}
			return fmt.Sprint(t)
		}
	}
}

// Apply sets ov in spec (the agent, before loading).
func (ov ObjectValues) Apply(spec *ebpf.CollectionSpec) error {
	for name, b := range ov.Variables {
		vs := spec.Variables[name]
		if vs == nil || int(vs.Size()) != len(b) {
			return fmt.Errorf("set variable %s: not in the object, or not %d bytes", name, len(b))
		}
		vs.Value = slices.Clone(b)
	}
	for name, n := range ov.MaxEntries {
		ms := spec.Maps[name]
		if ms == nil {
			return fmt.Errorf("set map %s max_entries: no such map", name)
		}
		ms = ms.Copy()
		ms.MaxEntries = n
		spec.Maps[name] = ms
	}
	for name, fn := range ov.AttachTargets {
		ps := spec.Programs[name]
		if ps == nil {
			return fmt.Errorf("set attach target of %s: no such program", name)
		}
		ps = ps.Copy()
		ps.AttachTo = fn
		spec.Programs[name] = ps
	}
	return nil
}
