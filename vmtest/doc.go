// Package vmtest runs parts of a Go test inside real kernels under QEMU.
//
// A test names the kernels and gives the part that must run inside them as
// a closure; each kernel is a subtest named after it:
//
//	var kernels = []string{"debian-5.10", "debian-6.1"}
//
//	func TestMain(m *testing.M) { vmtest.Main(m, vmtest.Options{}) }
//
//	func TestRingbuf(t *testing.T) {
//		vmtest.Run(t, kernels, func(t *testing.T) {
//			// Runs only inside each guest, as root, with bpffs mounted.
//			_, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: 4096})
//			require.NoError(t, err)
//		})
//	}
//
// go test then reports TestRingbuf/debian-5.10 and TestRingbuf/debian-6.1,
// and -run 'TestRingbuf/debian-6.1' picks one kernel.
//
// # The contract
//
// The closure never runs on the host: on the host, [Run] only replays what
// happened inside the guest. Each kernel is booted once per test binary,
// the first time a test asks for it: the guest runs this same test binary
// with the host's flags (-run, -skip, -short, -count, -failfast, -parallel,
// -shuffle, -cover and everything after -args) and reports every test's
// events, which the host then replays as the kernel subtests of each [Run]
// call. Inside, the whole package runs as it would under
// `go test -exec 'bpfmatrix exec'`: tests that do not call Run run there
// too, and their guest results are ignored (keep heavy host-only tests in
// another package, or select with -run).
//
// A subtest's outcome on the host is its outcome in the guest: pass; fail
// with the guest's output (a testify assertion reads the same as it would
// locally); skip with its reason; a panic fails the subtest with the panic
// and its stack; a timeout (go test's -timeout, of which the guest gets what
// the boot leaves, or [Options].RunTimeout) fails the test that was running
// with its output up to that moment. Tests that the guest never reached
// (because the guest binary had crashed) fail and say so. Every failure
// ends with a command that reproduces it after the test has finished
// (a go test line for that kernel subtest).
//
// [Main] is required: Run fails a test that runs without it, saying how to
// add it. Inside a bpfmatrix guest (kernel command line
// bpfmatrix.kernel=NAME, set by `bpfmatrix exec`), Run runs the closure
// directly for the kernel it is on and skips the other kernels with the
// reason: a VM never boots a VM.
//
// # What it needs
//
// Booting goes through the installed bpfmatrix CLI ($BPFMATRIX_BIN, else
// bpfmatrix on $PATH), which fetches and caches kernels; this package
// imports only the standard library, so importing it compiles nothing else
// and works after `go mod vendor`. Kernels must be of the host's
// architecture (the guest runs the host's test binary). The guest gets the
// host's environment (minus session variables such as PATH, HOME and
// SSH_*, see `bpfmatrix exec --help`) plus [Options].Env, and the package
// directory as its working directory.
package vmtest
