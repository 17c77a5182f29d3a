// Package inner is a user's package run by scripts/go-test-kernels.sh (the
// GitHub Action's logic) in TestActionScript: it must run inside the kernel
// it was given, read its module's files and fail when told to.
package inner

import (
	"os"
	"strings"
	"testing"
)

func TestInKernel(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("osrelease %s", strings.TrimSpace(string(b)))
	if want := os.Getenv("WANT_RELEASE_PREFIX"); want != "" && !strings.HasPrefix(string(b), want) {
		t.Fatalf("running on %q, want a release starting with %q", b, want)
	}
	if os.Getpid() == 1 {
		t.Fatal("the test is PID 1: it is not under bpfmatrix's init")
	}
}

func TestFailsWhenAsked(t *testing.T) {
	if _, err := os.Stat("fail-on-purpose"); err == nil {
		t.Fatal("failing on purpose")
	}
}
