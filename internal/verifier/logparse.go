package verifier

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/verifierlog"
)

// Stats is what the verifier's closing lines say.
type Stats struct {
	Insns      int
	PeakStates int
	// VerifyUsec is "verification time N usec" (BPF_LOG_STATS, 5.2+), -1 when absent.
	VerifyUsec int64
	// Processed is the whole "processed N insns ..." line.
	Processed string
}

var (
	processedRe = regexp.MustCompile(`^processed (\d+) insns \(limit \d+\).*?(?:peak_states (\d+))?`)
	peakRe      = regexp.MustCompile(`peak_states (\d+)`)
	timeRe      = regexp.MustCompile(`^verification time (\d+) usec`)
)

// ParseStats reads the stats lines of a verifier log. The "processed" line
// is printed at any log level since 4.15 (peak_states since 5.2); the last
// occurrence wins because a log can contain the line of a subprogram pass.
func ParseStats(log string) Stats {
	s := Stats{VerifyUsec: -1}
	for _, line := range strings.Split(log, "\n") {
		if m := processedRe.FindStringSubmatch(line); m != nil {
			s.Insns, _ = strconv.Atoi(m[1])
			s.Processed = strings.TrimSpace(line)
			if p := peakRe.FindStringSubmatch(line); p != nil {
				s.PeakStates, _ = strconv.Atoi(p[1])
			}
		}
		if m := timeRe.FindStringSubmatch(line); m != nil {
			s.VerifyUsec, _ = strconv.ParseInt(m[1], 10, 64)
		}
	}
	return s
}

// SummaryLine returns the verifier's reason for a rejection: the last line
// of the log that is not one of the closing stats lines
// (verifierlog.Complaint).
func SummaryLine(log string) string {
	return string(verifierlog.Complaint([]byte(log)))
}

// Excerpt returns up to n lines ending at the verifier's reason, for findings.
func Excerpt(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	end := len(lines)
	for end > 0 && verifierlog.IsStatsLine([]byte(lines[end-1])) {
		end--
	}
	start := max(end-n, 0)
	return strings.Join(lines[start:end], "\n")
}
