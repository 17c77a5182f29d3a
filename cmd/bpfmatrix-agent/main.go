// Command bpfmatrix-agent is the guest side of bpfmatrix: it runs as /init
// (PID 1) inside each VM. See internal/guest.
package main

func main() {}
