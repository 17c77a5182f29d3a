package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// bpftoolReport is the part of `bpftool feature probe -j` we compare.
type bpftoolReport struct {
	ProgramTypes map[string]bool     `json:"program_types"`
	MapTypes     map[string]bool     `json:"map_types"`
	Helpers      map[string][]string `json:"helpers"`
	Misc         map[string]bool     `json:"misc"`
}

// ParseBpftool maps bpftool's JSON to feature claims keyed like
// result.Feature.Key(): true = bpftool says available.
func ParseBpftool(raw []byte) (map[string]bool, error) {
	var rep bpftoolReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return nil, fmt.Errorf("parse bpftool output: %w", err)
	}
	claims := map[string]bool{}
	for k, v := range rep.ProgramTypes {
		name := strings.TrimSuffix(strings.TrimPrefix(k, "have_"), "_prog_type")
		claims[string(result.KindProgramType)+"/"+name] = v
	}
	for k, v := range rep.MapTypes {
		name := strings.TrimSuffix(strings.TrimPrefix(k, "have_"), "_map_type")
		claims[string(result.KindMapType)+"/"+name] = v
	}
	for k, v := range rep.Misc {
		claims[string(result.KindMisc)+"/"+strings.TrimPrefix(k, "have_")] = v
	}
	for k, list := range rep.Helpers {
		pt := strings.TrimSuffix(k, "_available_helpers")
		for _, h := range helpers {
			claims[string(result.KindHelper)+"/"+pt+"/"+h.Name] = false
		}
		for _, h := range list {
			claims[string(result.KindHelper)+"/"+pt+"/"+h] = true
		}
	}
	return claims, nil
}

// bpftoolCmd builds the command; when the binary's directory (or its lib/
// subdirectory) holds shared libraries, they are put on LD_LIBRARY_PATH so a
// distro bpftool copied into a guest finds its libbpf and libelf.
func bpftoolCmd(ctx context.Context, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	dir := filepath.Dir(path)
	var libs []string
	for _, d := range []string{dir, filepath.Join(dir, "lib")} {
		if m, _ := filepath.Glob(filepath.Join(d, "lib*.so*")); len(m) > 0 {
			libs = append(libs, d)
		}
	}
	if len(libs) > 0 {
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+strings.Join(libs, ":"))
	}
	return cmd
}

// CrossCheck runs `bpftool feature probe -j` and records, on each feature
// where bpftool's claim differs from our load, what bpftool claimed.
// Inconclusive features are not compared. Our load is the ground truth.
func CrossCheck(ctx context.Context, path string, feats []result.Feature) *result.BpftoolCheck {
	check := &result.BpftoolCheck{}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if out, err := bpftoolCmd(ctx, path, "version").Output(); err == nil {
		check.Version = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	var stderr bytes.Buffer
	cmd := bpftoolCmd(ctx, path, "feature", "probe", "-j")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		check.Error = fmt.Sprintf("run %s feature probe: %v: %s", path, err, strings.TrimSpace(stderr.String()))
		return check
	}
	claims, err := ParseBpftool(out)
	if err != nil {
		check.Error = err.Error()
		return check
	}
	check.Ran = true
	check.Disagreements = applyClaims(claims, feats)
	check.Causes = BpftoolCauseList(feats)
	return check
}

// Causes of bpftool's disagreements with our loads, recorded after its
// claim ("supported (misread refusal)") so that a kernel's disagreements
// can be grouped by what bpftool gets wrong (BpftoolCauses). Measured with
// Debian bookworm's bpftool 7.1 (libbpf 1.1) on the catalog's kernels.
const (
	// BpftoolMisreadRefusal: bpftool 7.1 (libbpf 1.1) counts any verifier
	// answer but "invalid func" and "unknown func" as support, so it reads
	// every other refusal as "supported": "program of this type cannot
	// use helper" (the wording of 6.12 and later here: every helper looks
	// offered to every program type), "func ... not supported for program
	// type" (bpf_get_func_ip), "sleepable helper ... in non-sleepable
	// prog".
	BpftoolMisreadRefusal = "misread refusal"
	// BpftoolNoAttachTarget: bpftool loads tracing, LSM, extension and
	// struct_ops programs without an attach target, which the kernel
	// refuses, and reports none of their helpers.
	BpftoolNoAttachTarget = "no attach target"
	// BpftoolSkipsDmesg: bpftool leaves out the helpers whose probe
	// writes to the kernel log (bpf_trace_printk, bpf_trace_vprintk,
	// bpf_probe_write_user) unless run as `feature probe full`
	// (tools/bpf/bpftool/feature.c, "Skip helper functions which emit
	// dmesg messages when not in the full mode").
	BpftoolSkipsDmesg = "skipped: writes to the kernel log"
	// BpftoolUnknownHelper: the helper is newer than the uapi headers
	// bpftool was built with (7.1: those of 6.1, whose last helper is
	// bpf_user_ringbuf_drain), so bpftool never asks about it.
	BpftoolUnknownHelper = "helper unknown to bpftool"
	// BpftoolAttachType: the helper is offered only with an expected
	// attach type, a sleepable flag or a program type bpftool does not
	// load that way.
	BpftoolAttachType = "attach type or sleepable variant not tried"
	// BpftoolOther: none of the above.
	BpftoolOther = "other"
)

// bpftoolCauseText says, for a reader of the matrix, what bpftool gets
// wrong for each cause.
var bpftoolCauseText = map[string]string{
	BpftoolMisreadRefusal: "misreads newer verifier messages (a refusal other than \"unknown func\" counts as support)",
	BpftoolNoAttachTarget: "loads tracing, LSM, extension and struct_ops programs without an attach target, so lists none of their helpers",
	BpftoolSkipsDmesg:     "skips helpers whose probe writes to the kernel log unless run as `feature probe full`",
	BpftoolUnknownHelper:  "does not know helpers newer than its own headers",
	BpftoolAttachType:     "does not try the expected attach type or sleepable variant the helper needs",
	BpftoolOther:          "disagrees for no cause we know",
}

// dmesgHelpers are the helpers bpftool probes only in full mode.
var dmesgHelpers = map[string]bool{"bpf_trace_printk": true, "bpf_trace_vprintk": true, "bpf_probe_write_user": true}

var needsAttachTarget = map[string]bool{"tracing": true, "lsm": true, "ext": true, "struct_ops": true}

// bpftoolCause says why bpftool's claim differs from our load on f.
// lastKnown is the highest helper ID bpftool listed for any program type.
func bpftoolCause(claim bool, f *result.Feature, lastKnown int32) string {
	switch {
	case claim && f.Kind == result.KindHelper && f.Reason != nil &&
		(f.Reason.Kind == result.ReasonProgramType || f.Reason.Kind == result.ReasonConfig):
		return BpftoolMisreadRefusal
	case !claim && needsAttachTarget[f.ProgramType]:
		return BpftoolNoAttachTarget
	case !claim && f.Kind == result.KindHelper && dmesgHelpers[f.Name]:
		return BpftoolSkipsDmesg
	case !claim && f.Kind == result.KindHelper && helperID(f.Name) > lastKnown:
		return BpftoolUnknownHelper
	case !claim && f.Kind == result.KindHelper:
		return BpftoolAttachType
	}
	return BpftoolOther
}

var helperIDs = sync.OnceValue(func() map[string]int32 {
	m := make(map[string]int32, len(helpers))
	for _, h := range helpers {
		m[h.Name] = h.ID
	}
	return m
})

func helperID(name string) int32 { return helperIDs()[name] }

func applyClaims(claims map[string]bool, feats []result.Feature) int {
	// bpftool lists a helper only if it knows it: the highest ID it lists
	// anywhere bounds what it knows (bpftool 7.1 on 6.12+ lists nearly
	// every helper it knows for most program types, misread refusals).
	var lastKnown int32
	for key, claim := range claims {
		if name, ok := strings.CutPrefix(key, string(result.KindHelper)+"/"); ok && claim {
			_, name, _ = strings.Cut(name, "/")
			lastKnown = max(lastKnown, helperID(name))
		}
	}
	n := 0
	for i := range feats {
		f := &feats[i]
		claim, ok := claims[f.Key()]
		if !ok || f.Status == result.Inconclusive {
			continue
		}
		if claim != (f.Status == result.Supported) {
			f.Bpftool = "unsupported"
			if claim {
				f.Bpftool = "supported"
			}
			f.Bpftool += " (" + bpftoolCause(claim, f, lastKnown) + ")"
			n++
		}
	}
	return n
}

// BpftoolCauses groups a result's disagreements with bpftool by cause.
func BpftoolCauses(feats []result.Feature) map[string]int {
	out := map[string]int{}
	for _, f := range feats {
		if f.Bpftool == "" {
			continue
		}
		cause := BpftoolOther
		if i := strings.Index(f.Bpftool, " ("); i >= 0 {
			cause = strings.TrimSuffix(f.Bpftool[i+2:], ")")
		}
		out[cause]++
	}
	return out
}

// BpftoolCauseList is BpftoolCauses as the result records it: most cells
// first, each with the sentence saying what bpftool gets wrong.
func BpftoolCauseList(feats []result.Feature) []result.BpftoolCause {
	var out []result.BpftoolCause
	for cause, n := range BpftoolCauses(feats) {
		text := bpftoolCauseText[cause]
		if text == "" {
			text = cause
		}
		out = append(out, result.BpftoolCause{Cause: cause, Text: text, Cells: n})
	}
	slices.SortFunc(out, func(a, b result.BpftoolCause) int {
		if a.Cells != b.Cells {
			return b.Cells - a.Cells
		}
		return strings.Compare(a.Cause, b.Cause)
	})
	return out
}
