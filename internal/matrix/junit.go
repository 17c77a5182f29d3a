package matrix

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/result"
)

// JUnit document types (the common Jenkins/Surefire dialect that CI
// dashboards read). Exported so tests and tools can parse junit.xml back.
type (
	JUnitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Suites   []JUnitSuite `xml:"testsuite"`
	}
	JUnitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Time       string          `xml:"time,attr,omitempty"`
		Timestamp  string          `xml:"timestamp,attr,omitempty"`
		Properties []JUnitProperty `xml:"properties>property,omitempty"`
		Cases      []JUnitCase     `xml:"testcase"`
	}
	JUnitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	JUnitCase struct {
		Classname string        `xml:"classname,attr"`
		Name      string        `xml:"name,attr"`
		Time      string        `xml:"time,attr,omitempty"`
		Failure   *JUnitMessage `xml:"failure,omitempty"`
		Error     *JUnitMessage `xml:"error,omitempty"`
		Skipped   *JUnitMessage `xml:"skipped,omitempty"`
		SystemOut string        `xml:"system-out,omitempty"`
	}
	JUnitMessage struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr,omitempty"`
		Text    string `xml:",chardata"`
	}
)

// JUnit renders junit.xml: one suite per kernel, one test case per feature
// and per verifier case. Findings and verifier mismatches are failures,
// inconclusive outcomes are skipped, unsupported-with-a-reason passes (it is
// the expected answer), and a kernel that failed to boot has one "boot"
// case with an error.
func JUnit(m *result.Matrix) ([]byte, error) {
	doc := JUnitSuites{Name: "bpfmatrix"}
	for i := range m.Kernels {
		k := &m.Kernels[i]
		s := JUnitSuite{
			Name: k.Kernel.Name,
			Time: fmt.Sprintf("%.3f", (k.BootTime + k.ProbeTime + k.VerifierTime).Std().Seconds()),
		}
		if !m.Generated.IsZero() {
			s.Timestamp = m.Generated.UTC().Format("2006-01-02T15:04:05")
		}
		for _, p := range [][2]string{
			{"release", k.Kernel.Release}, {"version", k.Kernel.Version}, {"arch", k.Kernel.Arch},
			{"source", k.Kernel.Source}, {"package_version", k.Kernel.PackageVersion}, {"digest", k.Kernel.Digest},
			{"agent", k.Agent},
		} {
			if p[1] != "" {
				s.Properties = append(s.Properties, JUnitProperty{Name: p[0], Value: p[1]})
			}
		}
		if k.Error != "" {
			s.Cases = append(s.Cases, JUnitCase{
				Classname: k.Kernel.Name, Name: "boot",
				Error: &JUnitMessage{Message: firstLine(k.Error), Type: "boot", Text: k.Error},
			})
		}
		for j := range k.Features {
			s.Cases = append(s.Cases, featureCase(k.Kernel.Name, &k.Features[j]))
		}
		for j := range k.Verifier {
			s.Cases = append(s.Cases, verifierCase(k.Kernel.Name, &k.Verifier[j]))
		}
		for _, c := range s.Cases {
			s.Tests++
			switch {
			case c.Error != nil:
				s.Errors++
			case c.Failure != nil:
				s.Failures++
			case c.Skipped != nil:
				s.Skipped++
			}
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		doc.Suites = append(doc.Suites, s)
	}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode junit: %w", err)
	}
	return append(append([]byte(xml.Header), b...), '\n'), nil
}

func featureCase(kernel string, f *result.Feature) JUnitCase {
	class := kernel + "." + string(f.Kind)
	if f.ProgramType != "" {
		class += "." + f.ProgramType
	}
	c := JUnitCase{Classname: class, Name: f.Name}
	switch {
	case isFinding(f):
		c.Failure = &JUnitMessage{Message: firstLine(findingText(f)), Type: "finding", Text: featureDetail(f)}
	case f.Status == result.Inconclusive:
		c.Skipped = &JUnitMessage{Message: "inconclusive: " + firstLine(f.Error)}
	case f.Status == result.Present:
		// Declared by the kernel, judged by nothing: neither a pass nor a
		// failure, like inconclusive.
		c.Skipped = &JUnitMessage{Message: presentText(f)}
	case f.Status == result.Unsupported:
		c.SystemOut = "unsupported: " + ReasonText(f.Reason)
	case f.Value != "":
		c.SystemOut = f.Value
	}
	return c
}

func featureDetail(f *result.Feature) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status: %s\n", f.Status)
	if f.Reason != nil {
		fmt.Fprintf(&b, "reason: %s\n", ReasonText(f.Reason))
	}
	if f.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", f.Error)
	}
	if f.Bpftool != "" {
		fmt.Fprintf(&b, "bpftool: %s\n", f.Bpftool)
	}
	return b.String()
}

func verifierCase(kernel string, v *result.VerifierOutcome) JUnitCase {
	c := JUnitCase{Classname: kernel + ".verifier", Name: verifierKey(v), Time: junitTime(v.VerifyTime)}
	switch {
	case verifierMismatch(v) != "":
		c.Failure = &JUnitMessage{Message: firstLine(verifierMismatch(v)), Type: "mismatch", Text: verifierDetail(v)}
	case v.Inconclusive != "":
		c.Skipped = &JUnitMessage{Message: "inconclusive: " + firstLine(v.Inconclusive)}
	default:
		c.SystemOut = verifierDetail(v)
	}
	return c
}

// junitTime passes through a verification time given in seconds or as a
// Go duration ("123µs"); anything else is dropped rather than guessed.
func junitTime(s string) string {
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return s
	}
	if d, err := time.ParseDuration(s); err == nil {
		return fmt.Sprintf("%.6f", d.Seconds())
	}
	return ""
}

func verifierDetail(v *result.VerifierOutcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", acceptWord(v.Accepted))
	if v.Expected != nil {
		fmt.Fprintf(&b, " (expected %s)", acceptWord(*v.Expected))
	}
	b.WriteString("\n")
	if v.Errno != "" {
		fmt.Fprintf(&b, "errno: %s\n", v.Errno)
	}
	if v.Summary != "" {
		fmt.Fprintf(&b, "summary: %s\n", v.Summary)
	}
	if v.Insns > 0 {
		fmt.Fprintf(&b, "insns processed: %d, peak states: %d\n", v.Insns, v.PeakStates)
	}
	if v.LogFile != "" {
		fmt.Fprintf(&b, "log: %s\n", v.LogFile)
	}
	if ex := logExcerpt(v.Log, 20); ex != "" {
		fmt.Fprintf(&b, "log excerpt:\n%s\n", ex)
	}
	return b.String()
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// logExcerpt returns the last n lines of a verifier log: the verifier
// states its verdict at the end. The whole log stays in the log file.
func logExcerpt(log string, n int) string {
	log = strings.TrimRight(log, "\n")
	if log == "" {
		return ""
	}
	lines := strings.Split(log, "\n")
	if len(lines) <= n {
		return log
	}
	return fmt.Sprintf("[… %d earlier lines in the full log]\n", len(lines)-n) + strings.Join(lines[len(lines)-n:], "\n")
}
