// Package result defines the versioned result schema that crosses the VM
// boundary and ends up in matrix.json. It is a leaf package: it imports
// nothing from this module, so the guest agent, the orchestrator and the
// renderers can all depend on it.
//
// A Feature is Supported, Unsupported, Inconclusive or Present. An
// Unsupported feature always carries a Reason; an Inconclusive one carries
// the Error that prevented an answer and is never counted as "no"; a
// Present one is declared by the kernel's BTF enum but no probe could judge
// it, carries what was seen in Value, and is never counted as "yes".
package result
