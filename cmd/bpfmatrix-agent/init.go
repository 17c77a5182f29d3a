package main

import "github.com/bpfmatrix/bpfmatrix/internal/guest"

// runInit is the VM's /init: see internal/guest.
func runInit() { guest.Init() }
