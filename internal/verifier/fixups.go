package verifier

import (
	"fmt"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// specFixups repair what clang 14 cannot express in a C case's object, so
// that the kernel sees what a newer clang would emit. Each is named in the
// case's manifest note.
var specFixups = map[string]func(*ebpf.CollectionSpec, Kernel) error{
	// clang 14 drops btf_type_tag on struct members (clang 15 emits it): tag
	// tasks' value member "task" as PTR -> TYPE_TAG -> task_struct, with
	// the tag that means a referenced kptr to k: "kptr_ref" from 5.19
	// (c0a5a21c25f3, "bpf: Allow storing referenced kptr in map") to 6.2,
	// "kptr" from 6.3 (03b77e17aeb2, "bpf: Rename __kptr_ref -> __kptr and
	// __kptr -> __kptr_untrusted."), where "kptr_ref" is refused. A program
	// written for one of them uses the tag its kernel knows (libbpf's
	// bpf_helpers.h spelled __kptr_ref, then __kptr).
	"kptr": func(spec *ebpf.CollectionSpec, k Kernel) error {
		tag := "kptr"
		if k.Version != (catalog.Version{}) && k.Version.Less(catalog.Version{Major: 6, Minor: 3}) {
			tag = "kptr_ref"
		}
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
				val.Members[i].Type = &btf.Pointer{Target: &btf.TypeTag{Value: tag, Type: ptr.Target}}
			}
			return nil
		}
		return fmt.Errorf("map tasks: no member task")
	},
}
