// Package verifierlog reads the kernel verifier's text log: which lines are
// the statistics it appends to every answer, and which line is its reason
// for saying no.
//
// The probes (a verdict per helper load, in a hot loop, on []byte without
// allocating) and the verifier corpus (the summary of a rejection) ask the
// same question of the same logs; this leaf package answers it once.
package verifierlog
