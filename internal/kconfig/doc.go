// Package kconfig reads a Linux kernel's build configuration (.config, plain
// or gzip-compressed as /proc/config.gz) into option -> value.
//
// It is the one config reader of the probes and the verifier corpus: both
// decide what a kernel should support from the same file. Parsing is strict:
// a line that is neither an option, a "# CONFIG_X is not set" nor a comment
// is an error, so a file that is not a kernel config never reads as one
// with every option unset.
package kconfig
