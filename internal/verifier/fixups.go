package verifier

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// specFixups repair what clang 14 cannot express in a C case's object, so
// that the kernel sees what a newer clang would emit. Each is named in the
// case's manifest note.
var specFixups = map[string]func(*ebpf.CollectionSpec) error{
	// clang 14 drops btf_type_tag on struct members (clang 15 emits it): tag
	// tasks' value member "task" as PTR -> TYPE_TAG("kptr") -> task_struct.
	"kptr": func(spec *ebpf.CollectionSpec) error {
		ms := spec.Maps["tasks"]
		if ms == nil {
			return fmt.Errorf("no map tasks")
		}
		val, ok := ms.Value.(*btf.Struct)
		if !ok {
			return fmt.Errorf("map tasks: value is %T, not a struct", ms.Value)
		}
		for i, m := range val.Members {
			if m.Name != "task" {
				continue
			}
			ptr, ok := m.Type.(*btf.Pointer)
			if !ok {
				return fmt.Errorf("member task is %T, not a pointer", m.Type)
			}
			if _, tagged := ptr.Target.(*btf.TypeTag); !tagged {
				val.Members[i].Type = &btf.Pointer{Target: &btf.TypeTag{Value: "kptr", Type: ptr.Target}}
			}
			return nil
		}
		return fmt.Errorf("map tasks: no member task")
	},
}
