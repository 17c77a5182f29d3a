package vmtest

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure the VMs of one test binary. Zero values take the
// bpfmatrix CLI's defaults.
type Options struct {
	// Memory in MiB and CPUs of each guest.
	Memory, CPUs int
	// BootTimeout limits one boot (bpfmatrix exec --boot-timeout).
	BootTimeout time.Duration
	// RunTimeout limits one guest run, i.e. all of the package's tests on
	// one kernel, from boot to exit. Default: what is left of go test's
	// -timeout when the kernel is first needed.
	RunTimeout time.Duration
	// Env adds VAR=VALUE entries to the guest's environment, which
	// otherwise is the host's minus its session variables.
	Env []string
}

// state is the process-wide state: Main's options and one guest run per
// kernel.
var state struct {
	mu      sync.Mutex
	mainRan bool
	opts    Options
	runs    map[string]*guestRun
}

// guestCoverDir is -test.gocoverdir inside the guest when the host
// collects coverage; Main sends its files back on stdout.
const guestCoverDir = "/tmp/bpfmatrix-vmtest-cover"

// Main runs the package's tests and exits; call it from TestMain:
//
//	func TestMain(m *testing.M) { vmtest.Main(m, vmtest.Options{}) }
//
// On the host, opts apply to every kernel the tests boot. Inside a guest it
// also hands the guest's coverage counters back to the host.
func Main(m *testing.M, opts Options) {
	state.mu.Lock()
	state.mainRan, state.opts = true, opts
	state.mu.Unlock()
	if _, ok := Guest(); !ok {
		os.Exit(m.Run())
	}
	collect := false
	for _, a := range os.Args[1:] {
		if a == "-test.gocoverdir="+guestCoverDir {
			collect = true
		}
	}
	if collect {
		// The testing package writes its counters here at the end of
		// m.Run, and fails if the directory is missing.
		if err := os.MkdirAll(guestCoverDir, 0o755); err != nil {
			fmt.Fprintf(os.Stderr, "vmtest: %v\n", err)
		}
	}
	code := m.Run()
	if collect {
		if err := sendCoverage(os.Stdout, guestCoverDir); err != nil {
			fmt.Fprintf(os.Stderr, "vmtest: send coverage: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// Guest reports the catalog name of the kernel this process runs on when it
// runs inside a bpfmatrix guest, and false on the host. It reads the
// kernel command line (bpfmatrix.kernel=NAME, which `bpfmatrix exec` sets)
// rather than the environment: an environment variable can be set on the
// host by accident, and then test bodies would run on the host.
func Guest() (kernel string, ok bool) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return "", false
	}
	return guestKernel(b)
}

const cmdlineMarker = "bpfmatrix.kernel="

func guestKernel(cmdline []byte) (string, bool) {
	for _, f := range strings.Fields(string(bytes.TrimSpace(cmdline))) {
		if k, ok := strings.CutPrefix(f, cmdlineMarker); ok && k != "" {
			return k, true
		}
	}
	return "", false
}

// Run runs fn as a subtest named after each of kernels, inside that kernel.
//
// On the host, each subtest replays fn's outcome in the guest (see the
// package documentation); fn itself never runs on the host. Inside a
// bpfmatrix guest, the subtest for the kernel it is on runs fn, and the
// others skip.
func Run(t *testing.T, kernels []string, fn func(t *testing.T)) {
	t.Helper()
	if len(kernels) == 0 {
		t.Fatal("vmtest.Run: no kernels")
	}
	if fn == nil {
		t.Fatal("vmtest.Run: nil test function")
	}
	if cur, ok := Guest(); ok {
		for _, k := range kernels {
			if k == cur {
				t.Run(k, fn)
				continue
			}
			t.Run(k, func(t *testing.T) {
				t.Skipf("vmtest: this test binary runs inside %s, so %s is not booted from here (a VM does not boot VMs); run go test on the host for %s", cur, k, k)
			})
		}
		return
	}
	state.mu.Lock()
	mainRan, opts := state.mainRan, state.opts
	state.mu.Unlock()
	if !mainRan {
		t.Fatalf("vmtest.Run needs vmtest.Main, which boots the kernels and runs the tests inside them; add to this package's tests:\n\n\tfunc TestMain(m *testing.M) { vmtest.Main(m, vmtest.Options{}) }")
	}
	for _, k := range kernels {
		t.Run(k, func(t *testing.T) {
			gr := runFor(k)
			gr.once.Do(func() { gr.boot(t, k, opts) })
			gr.replay(t)
		})
	}
}

func runFor(kernel string) *guestRun {
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.runs == nil {
		state.runs = make(map[string]*guestRun)
	}
	gr := state.runs[kernel]
	if gr == nil {
		gr = &guestRun{kernel: kernel}
		state.runs[kernel] = gr
	}
	return gr
}
