package needs

import (
	"fmt"
)

// Modules says which kfuncs and struct_ops types of one kernel live in a
// loadable module (internal/fetch's ModuleIndex), by name.
type Modules struct {
	Kfuncs    map[string]string
	StructOps map[string]string
}

// ModuleNeed is a requirement that only a kernel module provides.
type ModuleNeed struct {
	Module      string      `json:"module"`
	Requirement Requirement `json:"requirement"`
}

// String reads as one line: "needs module nf_conntrack: calls kfunc
// bpf_xdp_ct_lookup at ct.c:30, defined in module nf_conntrack".
func (n ModuleNeed) String() string {
	why := n.Requirement.Why
	if n.Requirement.Kind == KindKfunc {
		// Not Why, which says the table has no version for it: a
		// module's kfunc has the module's.
		why = "calls kfunc " + n.Requirement.Name
	}
	s := fmt.Sprintf("needs module %s: %s", n.Module, why)
	if n.Requirement.Source != nil {
		s += " at " + n.Requirement.Source.String()
	}
	what := "defined"
	if n.Requirement.Kind == KindStructOps {
		what = "registered"
	}
	return s + fmt.Sprintf(", %s in module %s", what, n.Module)
}

// ModuleNeeded returns the first of reqs (a program's or a map's, as
// Extract and ExtractMaps order them) that a module of mods provides: a
// kfunc it defines or a struct_ops type it registers. Such a program is
// refused by a kernel that has not loaded the module, which says nothing
// of the program itself.
func ModuleNeeded(reqs []Requirement, mods Modules) (ModuleNeed, bool) {
	for _, r := range reqs {
		var m string
		switch r.Kind {
		case KindKfunc:
			m = mods.Kfuncs[r.Name]
		case KindStructOps:
			m = mods.StructOps[r.Name]
		}
		if m != "" {
			return ModuleNeed{Module: m, Requirement: r}, true
		}
	}
	return ModuleNeed{}, false
}
