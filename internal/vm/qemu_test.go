package vm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

func TestArgv(t *testing.T) {
	m, err := MachineFor(catalog.AMD64, TCG)
	require.NoError(t, err)
	c := Command{Machine: m, Accel: TCG, MemoryMB: 512, CPUs: 2, Kernel: "/k/vmlinuz", Initrd: "/r/initramfs.cpio",
		SerialPaths: []string{"/dev/fd/3", "/dev/fd/4"}, ExtraCmdline: []string{"nokaslr"}}
	assert.Equal(t, []string{
		"qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-cpu", "max,-erms,-fsrm", "-m", "512", "-smp", "2",
		"-nodefaults", "-display", "none", "-no-reboot", "-kernel", "/k/vmlinuz", "-initrd", "/r/initramfs.cpio",
		"-chardev", "file,id=serial0,path=/dev/fd/3", "-serial", "chardev:serial0",
		"-chardev", "file,id=serial1,path=/dev/fd/4", "-serial", "chardev:serial1",
		"-append", "console=ttyS0 panic=-1 quiet lpj=4000000 no_timer_check pci=off acpi=off i8042.noaux i8042.nokbd i8042.nopnp reboot=t random.trust_cpu=on nokaslr",
	}, c.Argv())
}

func TestMachineFor(t *testing.T) {
	for _, tc := range []struct {
		arch                     catalog.Arch
		accel                    Accel
		binary, typ, cpu, consol string
		dataPort                 string
	}{
		{catalog.AMD64, TCG, "qemu-system-x86_64", "pc", "max,-erms,-fsrm", "ttyS0", "/dev/ttyS1"},
		{catalog.AMD64, KVM, "qemu-system-x86_64", "pc", "host", "ttyS0", "/dev/ttyS1"},
		{catalog.ARM64, TCG, "qemu-system-aarch64", "virt", "max,pauth=off", "ttyAMA0", "/dev/ttyS0"},
		{catalog.ARM64, KVM, "qemu-system-aarch64", "virt", "host", "ttyAMA0", "/dev/ttyS0"},
	} {
		t.Run(string(tc.arch)+"/"+string(tc.accel), func(t *testing.T) {
			m, err := MachineFor(tc.arch, tc.accel)
			require.NoError(t, err)
			assert.Equal(t, tc.binary, m.Binary)
			assert.Equal(t, tc.typ, m.Type)
			assert.Equal(t, tc.cpu, m.CPU)
			assert.Equal(t, tc.consol, m.Console)
			assert.Equal(t, tc.dataPort, m.DataPort)
		})
	}
	_, err := MachineFor("riscv64", TCG)
	require.ErrorContains(t, err, "unsupported architecture")
}

// TestArgvARM64: the console is the virt machine's PL011, the data port a
// PCI 16550 (the guest's ttyS0), and the CPU has pointer authentication
// off under TCG (see MachineFor).
func TestArgvARM64(t *testing.T) {
	c, err := CommandFor(Options{Arch: catalog.ARM64, Kernel: "/k/Image", Accel: TCG}, "/r/initramfs.cpio")
	require.NoError(t, err)
	assert.Equal(t, []string{
		"qemu-system-aarch64", "-machine", "virt", "-accel", "tcg", "-cpu", "max,pauth=off", "-m", "512", "-smp", "2",
		"-nodefaults", "-display", "none", "-no-reboot", "-kernel", "/k/Image", "-initrd", "/r/initramfs.cpio",
		"-chardev", "file,id=serial0,path=/dev/fd/3", "-serial", "chardev:serial0",
		"-chardev", "file,id=serial1,path=/dev/fd/4", "-device", "pci-serial,chardev=serial1",
		"-append", "console=ttyAMA0 panic=-1 quiet random.trust_cpu=on",
	}, c.Argv())
	assert.Equal(t, "/dev/ttyS0", c.Machine.DataPort)
}

func TestShellQuote(t *testing.T) {
	assert.Equal(t, `qemu -append 'console=ttyS0 panic=-1' 'it'\''s' ''`, ShellQuote([]string{"qemu", "-append", "console=ttyS0 panic=-1", "it's", ""}))
}

func TestHasVirtFlag(t *testing.T) {
	assert.True(t, hasVirtFlag("processor\t: 0\nflags\t\t: fpu vme vmx sse\n"))
	assert.False(t, hasVirtFlag("processor\t: 0\nflags\t\t: fpu vme hypervisor sse\n"))
}

func TestCrashTail(t *testing.T) {
	var b strings.Builder
	b.WriteString("boot line\n")
	b.WriteString("[ 1.0] sysrq: Trigger a crash\n[ 1.0] Kernel panic - not syncing: sysrq triggered crash\n")
	for i := 0; i < 100; i++ {
		b.WriteString("[ 1.1] trace line\n")
	}
	tail := crashTail([]byte(b.String()), 25, 60)
	assert.Len(t, tail, 61)
	assert.Equal(t, "boot line", tail[0])
	assert.Contains(t, tail[2], "sysrq triggered crash")
}
