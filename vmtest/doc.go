// Package vmtest runs code from a Go test inside a real kernel under QEMU.
//
// Boot a catalog kernel and run a binary in it (a dynamically linked one
// brings its ELF interpreter and libraries from the host):
//
//	res := vmtest.Run(t, vmtest.Options{Kernel: "debian-6.1"}, "./testdata/prog", "-flag")
//	if res.ExitCode != 0 { ... }
//
// Or run the current test's own body inside the guest:
//
//	func TestRingbuf(t *testing.T) {
//		if vmtest.InVM(t, vmtest.Options{Kernel: "debian-5.10"}) {
//			return // the body ran in the VM; its result is this test's result
//		}
//		// this part runs inside the guest, as root, with bpffs mounted
//	}
//
// Kernels come from the bpfmatrix catalog through its cache ($BPFMATRIX_CACHE,
// default ~/.cache/bpfmatrix). Every failure logs the exact QEMU command to
// reproduce the run.
package vmtest
