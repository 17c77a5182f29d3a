package vmtest

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGuestKernel(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline, want string
		ok                  bool
	}{
		// Captured: /proc/cmdline of a `bpfmatrix exec --kernel debian-6.1` guest.
		{"guest", "console=ttyS0 panic=-1 quiet lpj=4000000 no_timer_check pci=off acpi=off i8042.noaux i8042.nokbd i8042.nopnp reboot=t random.trust_cpu=on bpfmatrix.kernel=debian-6.1\n", "debian-6.1", true},
		{"host", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=1234 ro quiet\n", "", false},
		{"empty value", "quiet bpfmatrix.kernel=\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, ok := guestKernel([]byte(tc.cmdline))
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, k)
		})
	}
}

func TestGuestArgs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		host  []string
		cover bool
		want  []string
	}{
		{
			// What go test -short -count=1 -run X -cover -coverprofile c.out -args -custom=x passes.
			name:  "go test",
			host:  []string{"-test.paniconexit0", "-test.gocoverdir=/tmp/go-build1/b001/gocoverdir", "-test.timeout=10m0s", "-test.count=1", "-test.coverprofile=/tmp/go-build1/b001/_cover_.out", "-test.run=^TestPass$/^debian-6\\.1$", "-test.short=true", "-test.v=test2json", "-custom=x"},
			cover: true,
			want:  []string{"-test.paniconexit0", "-test.count=1", "-test.run=^TestPass$/^debian-6\\.1$", "-test.short=true", "-custom=x", "-test.v=test2json", "-test.timeout=1m0s", "-test.gocoverdir=" + guestCoverDir},
		},
		{
			// Run by hand: separate values, -v without a value, arguments.
			name: "by hand",
			host: []string{"-test.v", "-test.run", "TestX", "-test.cpuprofile", "cpu.out", "--", "arg"},
			want: []string{"-test.run", "TestX", "-test.v=test2json", "-test.timeout=1m0s", "--", "arg"},
		},
		{
			name: "positional",
			host: []string{"-test.failfast", "file.txt", "-notaflag"},
			want: []string{"-test.failfast", "-test.v=test2json", "-test.timeout=1m0s", "file.txt", "-notaflag"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, guestArgs(tc.host, time.Minute, tc.cover))
		})
	}
}

// The fixture is a real guest run: vmtestmod's test binary under
// `bpfmatrix exec --kernel debian-6.1` with -test.v=test2json -test.short
// -test.run '^Test(Pass|Fail|Skip|Subtests|Panic|AfterPanic)$' -custom=x,
// without vmtest.Main's --env (so TestPass fails on the missing variable).
func TestParseEvents(t *testing.T) {
	f, err := os.Open("testdata/guest-debian-6.1.stdout")
	require.NoError(t, err)
	defer f.Close()
	ev := parseEvents(f)

	assert.False(t, ev.finished, "the binary panicked: no final PASS/FAIL line")
	require.NotNil(t, ev.lastRun)
	assert.Equal(t, "TestPanic/debian-6.1", ev.lastRun.name)

	for _, tc := range []struct {
		name, action, output string
	}{
		{"TestPass/debian-5.10", "skip", "runs inside debian-6.1"},
		{"TestPass/debian-6.1", "fail", `expected: "from-options"`},
		{"TestFail/debian-6.1", "fail", `expected: "expected in the guest"`},
		{"TestSkip/debian-6.1", "skip", "this kernel lacks the feature"},
		{"TestSubtests/debian-6.1/bad", "fail", "sub-subtest failed"},
		{"TestSubtests/debian-6.1", "fail", ""},
		{"TestPanic/debian-6.1", "fail", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := ev.take(tc.name)
			require.NotNil(t, rec)
			assert.Equal(t, tc.action, rec.action)
			var lines []string
			for _, it := range rec.items {
				lines = append(lines, it.line)
			}
			assert.Contains(t, strings.Join(lines, "\n"), tc.output)
			assert.Nil(t, ev.take(tc.name), "ran once")
		})
	}
	rec := ev.byName["TestSubtests"][0]
	var children []string
	for _, it := range rec.items {
		if it.child != nil {
			children = append(children, it.child.name)
		}
	}
	assert.Equal(t, []string{"TestSubtests/debian-5.10", "TestSubtests/debian-6.1"}, children)
	assert.Empty(t, ev.byName["TestAfterPanic"], "never started")
}

// Captured from `bpfmatrix exec --kernel debian-6.1 --timeout 3s` of a
// program that printed to stderr and then slept.
const capturedRunTimeout = `to stderr
Error: exec on debian-6.1: run timeout: job still running after 3s
last console lines:
  [    1.388000] PCI: Fatal: No config space access function found
reproduce with: qemu-system-x86_64 -machine pc -initrd /tmp/bpfmatrix-vm-3596858095/initramfs.cpio -append 'console=ttyS0 bpfmatrix.kernel=debian-6.1' 3>&1 4>bpfmatrix-data.bin
`

func TestCLIError(t *testing.T) {
	guest, cli := splitCLIError(capturedRunTimeout, "debian-6.1")
	assert.Equal(t, "to stderr\n", guest)
	assert.Equal(t, "Error: exec on debian-6.1: run timeout: job still running after 3s", cleanCLIError(cli))
}

func TestTimeouts(t *testing.T) {
	// This test's own deadline is go test's -timeout (10 minutes by
	// default); the guest's alarm must fire before the CLI's.
	run, guest := timeouts(t, 0)
	if _, ok := t.Deadline(); ok {
		assert.Less(t, guest, run)
		assert.Positive(t, guest)
	}
	run, guest = timeouts(t, 30*time.Second)
	assert.Equal(t, 30*time.Second, run)
	assert.Equal(t, 25*time.Second, guest)
}

func TestReproLine(t *testing.T) {
	l := reproLine("TestX/debian-6.1")
	assert.Contains(t, l, "-run '^TestX$/^debian-6\\.1$' .")
	assert.True(t, strings.HasPrefix(l, "cd "))
}
