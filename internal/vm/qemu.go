package vm

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// Accel is a QEMU accelerator.
type Accel string

const (
	KVM Accel = "kvm"
	TCG Accel = "tcg"
)

// DetectAccel returns KVM when the guest arch matches the host and /dev/kvm
// opens read-write, TCG otherwise. $BPFMATRIX_ACCEL (kvm or tcg) overrides.
//
// On x86 the CPU must also advertise vmx or svm: a nested guest (a
// Firecracker VM, for one) can expose a /dev/kvm that answers the API
// ioctls and even creates VMs, but whose vCPUs never run, so QEMU hangs.
func DetectAccel(arch catalog.Arch) Accel {
	switch os.Getenv("BPFMATRIX_ACCEL") {
	case "kvm":
		return KVM
	case "tcg":
		return TCG
	}
	if arch.GOARCH() != runtime.GOARCH {
		return TCG
	}
	if runtime.GOARCH == "amd64" {
		info, err := os.ReadFile("/proc/cpuinfo")
		if err != nil || !hasVirtFlag(string(info)) {
			return TCG
		}
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return TCG
	}
	f.Close()
	return KVM
}

func hasVirtFlag(cpuinfo string) bool {
	for _, line := range strings.Split(cpuinfo, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			for _, f := range strings.Fields(v) {
				if f == "vmx" || f == "svm" {
					return true
				}
			}
			return false
		}
	}
	return false
}

// Machine describes the emulated machine of one architecture.
type Machine struct {
	// Binary is the QEMU system emulator.
	Binary string
	// Type is the -machine value.
	Type string
	// CPU is the -cpu value ("max" under TCG, "host" under KVM).
	CPU string
	// Console is the kernel's console device (first serial port).
	Console string
	// DataPort is the guest device carrying frames (second serial port),
	// empty when the machine has only one UART.
	DataPort string
	// DataDevice is the QEMU -device model that carries the serial ports
	// after the console, with a chardev= property appended; empty means
	// more -serial ports (the pc machine's built-in 8250s).
	DataDevice string
	// Cmdline is the machine-specific part of the kernel command line.
	Cmdline []string
}

// MachineFor returns the machine used for arch under accel.
//
// x86_64: the pc machine with two 8250 UARTs: ttyS0 is the console, ttyS1
// the data port. The kernel parameters were measured with Debian 6.1 cloud
// under TCG (DESIGN.md): lpj= and no_timer_check skip calibration loops
// (2.86 s -> 2.06 s), pci=off acpi=off and no i8042 probing save another
// 0.3 s, and reboot=t makes reboot(2) a triple fault, the fastest way out.
// random.trust_cpu=on seeds the CRNG from RDRAND (which -cpu max has under
// TCG): without it a Go /init on 5.10 waits ~1.5 s in getrandom(2) for the
// CRNG (measured: exec on 5.10 took 4.2 s to the agent's hello, 2.0 s with it).
//
// The x86_64 CPU under TCG is "max,-erms,-fsrm": everything QEMU emulates
// except the two flags that say `rep movsb`/`rep stosb` are fast. They are on
// hardware; under TCG each iteration of a rep-prefixed byte instruction is
// its own trip through the translated loop, so a kernel that sees ERMS/FSRM
// copies and clears pages a byte per iteration (and Go's memmove/memclr in
// the guest switch to REP MOVSB/STOSB above 2 KB). Without them the kernel
// takes its unrolled 8-byte loops: unpacking a 4.7 MB initramfs on Debian 6.1
// took 43 ms instead of 77-142 ms (kernel timestamps, 4 boots each), and
// BenchmarkBoot's bare boot and exec both got faster.
//
// arm64: the virt machine has a single PL011 (ttyAMA0, the console), so the
// data port is a PCI 16550 (-device pci-serial) on virt's generic PCIe host
// bridge. Every Debian arm64 cloud kernel in the catalog (5.10, 6.1, 6.12,
// 7.2) builds SERIAL_8250, SERIAL_8250_PCI and PCI_HOST_GENERIC in (virtio
// and virtio-console are modules before 6.12), and arm64 has no legacy ISA
// ports, so the PCI UART is the first 8250 the kernel registers: ttyS0.
// Multiplexing frames onto the console would work too, but kernel messages
// could then interleave with a frame mid-byte.
//
// The CPU under TCG is "max,pauth=off": every ARMv8.x/9.x feature QEMU
// emulates (LSE atomics the BPF JIT emits, BTI, SVE, RNG) except pointer
// authentication. QEMU computes the architected QARMA cipher in software
// for each PAC/AUT instruction, and Debian kernels sign every return
// address (ARM64_PTR_AUTH_KERNEL), so with pauth a 6.1 kernel took 8.4 s
// to boot and power off; without it 1.6 s (cortex-a57 1.7 s, neoverse-n1
// 1.6 s, max,pauth-impdef=on 2.4 s; measured with a one-file initramfs).
// The JIT's PACIASP/AUTIASP are hint instructions, NOPs on a CPU without
// pauth, so BPF behaves the same.
func MachineFor(arch catalog.Arch, accel Accel) (Machine, error) {
	cpu := "max"
	if accel == KVM {
		cpu = "host"
	}
	switch arch {
	case catalog.AMD64:
		if accel == TCG {
			cpu = "max,-erms,-fsrm"
		}
		return Machine{
			Binary:   "qemu-system-x86_64",
			Type:     "pc",
			CPU:      cpu,
			Console:  "ttyS0",
			DataPort: "/dev/ttyS1",
			Cmdline:  []string{"lpj=4000000", "no_timer_check", "pci=off", "acpi=off", "i8042.noaux", "i8042.nokbd", "i8042.nopnp", "reboot=t", "random.trust_cpu=on"},
		}, nil
	case catalog.ARM64:
		if accel == TCG {
			cpu = "max,pauth=off"
		}
		return Machine{
			Binary:     "qemu-system-aarch64",
			Type:       "virt",
			CPU:        cpu,
			Console:    "ttyAMA0",
			DataPort:   "/dev/ttyS0",
			DataDevice: "pci-serial",
			Cmdline:    []string{"random.trust_cpu=on"},
		}, nil
	}
	return Machine{}, fmt.Errorf("machine for %q: unsupported architecture", arch)
}

// Command is a QEMU invocation as data. Argv renders it; nothing here starts
// a process.
type Command struct {
	Machine  Machine
	Accel    Accel
	MemoryMB int
	CPUs     int
	Kernel   string
	Initrd   string
	// SerialPaths are the host ends of the serial ports, console first,
	// then the data port (ttyS0, ttyS1 on x86_64; ttyAMA0, then PCI
	// ttyS0 on arm64): files QEMU opens for writing.
	SerialPaths []string
	// ExtraCmdline is appended to the kernel command line.
	ExtraCmdline []string
	// DataPipe, if set, makes the data port bidirectional (how the job's
	// stdin reaches the guest): it becomes QEMU's pipe chardev with this
	// prefix, which reads DataPipe.in and writes DataPipe.out, instead of a
	// file chardev on SerialPaths[1]. QEMU 7.2's file chardev cannot read
	// (input-path= came later).
	DataPipe string
}

// KernelCmdline is the kernel command line of c.
func (c Command) KernelCmdline() string {
	args := []string{
		"console=" + c.Machine.Console,
		// A panic restarts the machine at once and -no-reboot turns that
		// into QEMU exiting: no hung VM waiting for the boot timeout.
		"panic=-1",
		"quiet",
	}
	args = append(args, c.Machine.Cmdline...)
	args = append(args, c.ExtraCmdline...)
	return strings.Join(args, " ")
}

// Argv returns the full QEMU argument vector, binary first.
func (c Command) Argv() []string {
	argv := []string{
		c.Machine.Binary,
		"-machine", c.Machine.Type,
		"-accel", string(c.Accel),
		"-cpu", c.Machine.CPU,
		"-m", strconv.Itoa(c.MemoryMB),
		"-smp", strconv.Itoa(c.CPUs),
		// No default devices (VGA, NIC, floppy, parallel port): less to
		// emulate, less to probe at boot.
		"-nodefaults",
		"-display", "none",
		"-no-reboot",
		"-kernel", c.Kernel,
	}
	if c.Initrd != "" {
		argv = append(argv, "-initrd", c.Initrd)
	}
	for i, p := range c.SerialPaths {
		id := fmt.Sprintf("serial%d", i)
		chardev := fmt.Sprintf("file,id=%s,path=%s", id, p)
		if i == 1 && c.DataPipe != "" {
			chardev = fmt.Sprintf("pipe,id=%s,path=%s", id, c.DataPipe)
		}
		argv = append(argv, "-chardev", chardev)
		if i > 0 && c.Machine.DataDevice != "" {
			argv = append(argv, "-device", c.Machine.DataDevice+",chardev="+id)
		} else {
			argv = append(argv, "-serial", "chardev:"+id)
		}
	}
	return append(argv, "-append", c.KernelCmdline())
}

// ShellQuote renders argv as one shell command line.
func ShellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r))
		}) < 0 {
			q[i] = a
			continue
		}
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
