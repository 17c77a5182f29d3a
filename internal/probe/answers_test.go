package probe

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// helperAnswer is one real answer of a kernel to helperInsns, as captured by
// TestCaptureHelperAnswers inside a guest.
type helperAnswer struct {
	Kernel   string `json:"kernel"`
	Case     string `json:"case"`
	LogLevel uint32 `json:"log_level"`
	Errno    int    `json:"errno"`
	Log      string `json:"log"`
}

// answerCase is a load whose verdict does not depend on the kernel.
type answerCase struct {
	name        string
	progType    uint32
	attachType  uint32
	target      string // attach target in the kernel's BTF
	helper      int32
	logLevel    uint32
	interrupted bool // capture an answer cut short by a signal (EAGAIN)
	want        helperVerdict
	// before61 is the verdict on older kernels, when it differs: 5.10 does
	// not offer sleepable-only helpers to non-sleepable programs at all.
	before61 helperVerdict
	// plainTarget: an extension of a target that does not change packet
	// data; the answer depends on the kernel, but is never "supported".
	plainTarget bool
}

var answerCases = []answerCase{
	{name: "fentry_csum_diff", progType: 26, attachType: 24, target: "bpf_fentry_test1", helper: 28, logLevel: 4, want: verdictNotOffered},
	{name: "fentry_csum_diff_interrupted", progType: 26, attachType: 24, target: "bpf_fentry_test1", helper: 28, logLevel: 4, interrupted: true, want: verdictError},
	{name: "fentry_csum_diff_interrupted_level1", progType: 26, attachType: 24, target: "bpf_fentry_test1", helper: 28, logLevel: 1, interrupted: true, want: verdictError},
	{name: "fentry_skb_store_bytes_interrupted", progType: 26, attachType: 24, target: "bpf_fentry_test1", helper: 9, logLevel: 4, interrupted: true, want: verdictError},
	{name: "fentry_map_lookup_elem", progType: 26, attachType: 24, target: "bpf_fentry_test1", helper: 1, logLevel: 4, want: verdictSupported},
	{name: "fentry_ktime_get_ns", progType: 26, attachType: 24, target: "bpf_fentry_test1", helper: 5, logLevel: 4, want: verdictSupported},
	{name: "fentry_d_path", progType: 26, attachType: 24, target: "bpf_fentry_test1", helper: 147, logLevel: 4, want: verdictSupported},
	{name: "fentry_copy_from_user", progType: 26, attachType: 24, target: "bpf_fentry_test1", helper: 148, logLevel: 4, want: verdictNeedsSleepable, before61: verdictNotOffered},
	{name: "kprobe_skb_store_bytes", progType: 2, helper: 9, logLevel: 4, want: verdictNotOffered},
	{name: "socket_filter_unknown_id", progType: 1, helper: 1000, logLevel: 4, want: verdictUnknownHelper},
}

// extAnswerCases are extensions of extTargetInsns (an XDP program that
// changes packet data) calling one helper, loaded as probeExtHelpers does.
var extAnswerCases = []answerCase{
	// XDP has its own packet-changing helpers; the skb ones it lacks. On
	// 6.12+ an extension of a target that does not change packet data was
	// refused before the helper was looked at.
	{name: "ext_xdp_adjust_head", helper: 44, want: verdictSupported},
	{name: "ext_skb_store_bytes", helper: 9, want: verdictNotOffered},
	{name: "ext_skb_change_head", helper: 43, want: verdictNotOffered},
	{name: "ext_map_lookup_elem", helper: 1, want: verdictSupported},
	{name: "ext_probe_read", helper: 4, want: verdictNotOffered},
	{name: "ext_plain_target_skb_store_bytes", helper: 9, plainTarget: true},
}

var captureAnswers = flag.Bool("capture-helper-answers", false,
	"print the running kernel's answers to answerCases as JSON (run inside a guest: bpfmatrix exec --kernel K -- probe.test -test.run TestCaptureHelperAnswers -capture-helper-answers)")

// TestCaptureHelperAnswers records testdata/helper_answers.json; it is a
// tool, not a test, and does nothing without -capture-helper-answers.
func TestCaptureHelperAnswers(t *testing.T) {
	if !*captureAnswers {
		return
	}
	var names []string
	for _, c := range answerCases {
		if c.target != "" {
			names = append(names, c.target)
		}
	}
	kb, err := loadKernelBTF("/sys/kernel/btf/vmlinux", kernelEnums, names)
	require.NoError(t, err)
	var uts unix.Utsname
	require.NoError(t, unix.Uname(&uts))
	buf := make([]byte, 4096)
	var out []helperAnswer
	for _, c := range answerCases {
		insns := helperInsns(c.helper)
		attr := progLoadAttr{progType: c.progType, insnCnt: uint32(len(insns)), insns: uint64(uintptr(unsafe.Pointer(&insns[0]))),
			license: uint64(uintptr(unsafe.Pointer(&gplLicense[0]))), expectedAttachType: c.attachType,
			logLevel: c.logLevel, logSize: uint32(len(buf)), logBuf: uint64(uintptr(unsafe.Pointer(&buf[0])))}
		if c.target != "" {
			attr.attachBTFID = kb.id(c.target)
			require.NotZero(t, attr.attachBTFID, c.target)
		}
		// RawSyscall, one try per load: the goroutine keeps running, so the
		// runtime's preemption signal interrupts a slow verification.
		for try := 0; ; try++ {
			if try == 500 {
				// Fast kernels (kallsyms_lookup_name is a binary search since
				// 6.2) are seldom interrupted.
				require.True(t, c.interrupted, "%s: no answer", c.name)
				t.Logf("%s: not interrupted in %d tries", c.name, try)
				break
			}
			buf[0] = 0
			fd, _, errno := unix.RawSyscall(unix.SYS_BPF, cmdProgLoad, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
			runtime.KeepAlive(insns)
			if errno == 0 {
				unix.Close(int(fd))
			}
			if (errno == unix.EAGAIN) != c.interrupted {
				continue
			}
			out = append(out, helperAnswer{Kernel: unix.ByteSliceToString(uts.Release[:]), Case: c.name, LogLevel: c.logLevel,
				Errno: int(errno), Log: unix.ByteSliceToString(buf)})
			break
		}
	}
	target, err := newExtTarget()
	require.NoError(t, err)
	defer target.Close()
	plain, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type: ebpf.XDP, License: "GPL", Instructions: extInsns(asm.Mov.Imm(asm.R0, 0)),
	}, ebpf.ProgramOptions{LogDisabled: true})
	require.NoError(t, err)
	defer plain.Close()
	for _, c := range extAnswerCases {
		a := helperAnswer{Kernel: unix.ByteSliceToString(uts.Release[:]), Case: c.name, LogLevel: 1}
		tgt := target
		if c.plainTarget {
			tgt = plain
		}
		err := loadExtension(tgt, c.helper)
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			a.Log = strings.Join(verr.Log, "\n") + "\n"
		}
		var errno unix.Errno
		if errors.As(err, &errno) {
			a.Errno = int(errno)
		}
		out = append(out, a)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(out))
}

// TestClassifyHelperAnswers classifies real answers: above all, an answer
// cut short by a signal (EAGAIN, whose log at BPF_LOG_STATS holds only the
// statistics) must never read as "supported" (it did, for 29-60 tracing
// helpers per run on debian-5.10-arm64).
func TestClassifyHelperAnswers(t *testing.T) {
	raw, err := os.ReadFile("testdata/helper_answers.json")
	require.NoError(t, err)
	var answers []helperAnswer
	require.NoError(t, json.Unmarshal(raw, &answers))
	cases := map[string]answerCase{}
	for _, c := range append(answerCases, extAnswerCases...) {
		cases[c.name] = c
	}
	seen := map[string]bool{}
	for _, a := range answers {
		t.Run(a.Kernel+"/"+a.Case, func(t *testing.T) {
			c, ok := cases[a.Case]
			require.True(t, ok, "unknown case %s", a.Case)
			seen[a.Case] = true
			v, err := catalog.ParseVersion(a.Kernel)
			require.NoError(t, err)
			w := c.want
			if c.before61 != verdictSupported && v.Less(Version{Major: 6, Minor: 1}) {
				w = c.before61
			}
			res := loadResult{log: a.Log}
			if a.Errno != 0 {
				res.err = unix.Errno(a.Errno)
			}
			got, why := classifyHelperLoad(res)
			if c.plainTarget {
				assert.NotEqual(t, verdictSupported, got, "errno %d, log %q", a.Errno, a.Log)
				return
			}
			assert.Equal(t, w, got, "errno %d, log %q", a.Errno, a.Log)
			if got == verdictError {
				assert.NotEmpty(t, why)
			}
			// The helper matrix passes the log as raw bytes.
			res.log, res.raw = "", []byte(a.Log)
			got2, _ := classifyHelperLoad(res)
			assert.Equal(t, got, got2)
		})
	}
	for _, c := range append(answerCases, extAnswerCases...) {
		assert.True(t, seen[c.name], "no captured answer for %s", c.name)
	}
}
