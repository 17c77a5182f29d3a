package vm

import (
	"errors"
	"fmt"
)

// MinMemoryMB is the least guest memory Run accepts, in MiB. Measured on
// debian-6.1 under TCG with bpfmatrix-init and a 1.8 MB static job: 72 MiB
// panics while unpacking ("System is deadlocked on memory"), 76 MiB boots;
// at 80 MiB a job writing 10 MB of output was OOM-killed in 2 of 3 runs,
// at 96 MiB in none (and debian-5.10 and 6.12 boot there too).
const MinMemoryMB = 96

// ErrMemory: the guest memory asked for is below MinMemoryMB.
var ErrMemory = errors.New("guest memory too small")

// CheckMemory refuses a guest memory size (MiB) below MinMemoryMB.
func CheckMemory(mb int) error {
	if mb < MinMemoryMB {
		return fmt.Errorf("%w: %d MiB is below the %d MiB a guest needs", ErrMemory, mb, MinMemoryMB)
	}
	return nil
}
