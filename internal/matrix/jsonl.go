package matrix

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// Line is one object of the JSON Lines stream: one kernel and one feature
// (kind is a feature kind) or one verifier case (kind "verifier", status
// "accepted", "rejected" or "inconclusive"). Kernel fields are repeated on
// every line so each line stands alone (`jq 'select(.status=="unsupported")'`).
// A feature's status is result.Status as is: "present" lines carry the
// Value that says what the kernel declares.
type Line struct {
	Kernel      string         `json:"kernel"`
	Release     string         `json:"release,omitempty"`
	Version     string         `json:"version,omitempty"`
	Arch        string         `json:"arch,omitempty"`
	Kind        string         `json:"kind"`
	Name        string         `json:"name"`
	ProgramType string         `json:"program_type,omitempty"`
	Status      string         `json:"status"`
	Reason      *result.Reason `json:"reason,omitempty"`
	// ReasonText is Reason rendered as in the reports ("introduced in 6.9 (commit …)").
	ReasonText string `json:"reason_text,omitempty"`
	Error      string `json:"error,omitempty"`
	Value      string `json:"value,omitempty"`
	Finding    string `json:"finding,omitempty"`
	Bpftool    string `json:"bpftool,omitempty"`
	// Verifier cases, and attach-and-observe rows (Errno).
	Expected *bool  `json:"expected,omitempty"`
	Errno    string `json:"errno,omitempty"`
	Summary  string `json:"summary,omitempty"`
	Insns    int    `json:"insns_processed,omitempty"`
	LogFile  string `json:"log_file,omitempty"`
}

// JSONLines writes one Line per kernel×feature and kernel×verifier case. A
// kernel that failed to boot gets one line of kind "kernel", name "boot",
// status "error" with its error, so it is not silently absent.
func JSONLines(w io.Writer, m *result.Matrix) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range m.Kernels {
		k := &m.Kernels[i]
		base := Line{Kernel: k.Kernel.Name, Release: k.Kernel.Release, Version: k.Kernel.Version, Arch: k.Kernel.Arch}
		if k.Error != "" {
			l := base
			l.Kind, l.Name, l.Status, l.Error = "kernel", "boot", "error", k.Error
			if err := enc.Encode(l); err != nil {
				return fmt.Errorf("write json lines: %w", err)
			}
		}
		for _, f := range k.Features {
			l := base
			l.Kind, l.Name, l.ProgramType, l.Status = string(f.Kind), f.Name, f.ProgramType, string(f.Status)
			l.Reason, l.Error, l.Value, l.Bpftool, l.Errno = f.Reason, f.Error, f.Value, f.Bpftool, f.Errno
			if f.Reason != nil {
				l.ReasonText = ReasonText(f.Reason)
			}
			if isFinding(&f) {
				l.Finding = findingText(&f)
			}
			if err := enc.Encode(l); err != nil {
				return fmt.Errorf("write json lines: %w", err)
			}
		}
		for _, v := range k.Verifier {
			l := base
			l.Kind, l.Name = KindVerifier, verifierKey(&v)
			switch {
			case v.Inconclusive != "":
				l.Status, l.Error = "inconclusive", v.Inconclusive
			case v.Accepted:
				l.Status = "accepted"
			default:
				l.Status = "rejected"
			}
			l.Expected, l.Errno, l.Summary, l.Insns, l.LogFile = v.Expected, v.Errno, v.Summary, v.Insns, v.LogFile
			if v.Reason != nil {
				l.Reason, l.ReasonText = v.Reason, verifierReasonText(v.Reason)
			}
			l.Finding = verifierMismatch(&v)
			if err := enc.Encode(l); err != nil {
				return fmt.Errorf("write json lines: %w", err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write json lines: %w", err)
	}
	return nil
}
