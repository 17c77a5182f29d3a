// Package cli is the bpfmatrix command tree (cobra). Each command group lives
// in its own file; commands return errors instead of exiting, and Run is the
// only entry point, so the whole tree is testable in-process.
package cli
