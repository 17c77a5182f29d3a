package main

import (
	"github.com/bpfmatrix/bpfmatrix/internal/guest"
	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire/zstdcodec"
)

// runInit is the VM's /init when the job is the agent itself: see
// internal/guest. Probe and verifier JSON compresses about 30:1 with zstd.
func runInit() { guest.Init(zstdcodec.New()) }
