package cli

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/bpfmatrix/bpfmatrix/internal/vm"
)

// vmFlags are the per-VM flags shared by exec, run, check and repro.
type vmFlags struct {
	cpus, memory         int
	bootTimeout, timeout time.Duration
}

// register adds --cpus, --memory, --boot-timeout and --timeout with the
// command's own defaults.
func (v *vmFlags) register(fl *pflag.FlagSet, cpus int, timeout time.Duration, timeoutUsage string) {
	fl.IntVar(&v.cpus, "cpus", cpus, "vCPUs per VM")
	fl.IntVar(&v.memory, "memory", 512, fmt.Sprintf("guest memory in MiB (at least %d)", vm.MinMemoryMB))
	fl.DurationVar(&v.bootTimeout, "boot-timeout", time.Minute, "time from starting QEMU to the agent being up")
	fl.DurationVar(&v.timeout, "timeout", timeout, timeoutUsage)
}

func (v vmFlags) validate() error {
	if v.cpus <= 0 || v.memory <= 0 || v.bootTimeout <= 0 || v.timeout <= 0 {
		return usageError("--cpus, --memory, --boot-timeout and --timeout must be positive")
	}
	if err := vm.CheckMemory(v.memory); err != nil {
		return usageError("--memory %d: below the minimum of %d MiB a guest needs to boot and run a job", v.memory, vm.MinMemoryMB)
	}
	return nil
}
