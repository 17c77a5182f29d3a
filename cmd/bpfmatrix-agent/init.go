package main

import "os"

// runInit is replaced by the guest init (internal/guest).
func runInit() { os.Exit(1) }
