package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/kernels"
)

// SchemaVersion is the catalog document version this package understands.
const SchemaVersion = 1

// Arch is a kernel architecture, spelled as `uname -m` prints it.
type Arch string

const (
	AMD64 Arch = "x86_64"
	ARM64 Arch = "arm64"
)

// GOARCH returns the Go architecture name for a.
func (a Arch) GOARCH() string {
	switch a {
	case AMD64:
		return "amd64"
	case ARM64:
		return "arm64"
	}
	return string(a)
}

// ArchOf returns the Arch of a Go GOARCH value ("amd64" is x86_64), so that
// results recorded inside a guest (runtime.GOARCH) use the catalog's
// spelling. Other values come back unchanged.
func ArchOf(goarch string) Arch {
	switch goarch {
	case "amd64":
		return AMD64
	case "arm64":
		return ARM64
	}
	return Arch(goarch)
}

// DebianArch returns Debian's architecture name for a.
func (a Arch) DebianArch() string { return a.GOARCH() }

// Version is a mainline kernel version (major.minor[.patch]).
type Version struct{ Major, Minor, Patch int }

// ParseVersion parses "6.1", "6.1.0" or a release string such as
// "6.1.0-50-cloud-amd64" (anything after the numeric prefix is ignored).
func ParseVersion(s string) (Version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("parse kernel version %q: want MAJOR.MINOR[.PATCH]", s)
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	return v, nil
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?`)

// Mainline returns v without its patch level: the major.minor release that
// feature tables and the verifier corpus name (6.12.117 -> 6.12).
func (v Version) Mainline() Version { return Version{Major: v.Major, Minor: v.Minor} }

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool { return v.Compare(w) < 0 }

// Compare returns -1, 0 or 1.
func (v Version) Compare(w Version) int {
	for _, d := range [][2]int{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (v Version) String() string {
	if v.Patch != 0 {
		return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}

// MarshalText implements encoding.TextMarshaler.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (v *Version) UnmarshalText(b []byte) error {
	p, err := ParseVersion(string(b))
	if err != nil {
		return err
	}
	if len(p.String()) != len(b) && strings.TrimSuffix(string(b), ".0") != p.String() {
		return fmt.Errorf("parse kernel version %q: trailing characters", b)
	}
	*v = p
	return nil
}

// DebianSource resolves a kernel through a Debian archive suite's signed index.
type DebianSource struct {
	// Suite is the archive suite (bullseye, bookworm-security, sid, ...).
	Suite string `json:"suite"`
	// Package is a regular expression matched against binary package names;
	// the newest matching version is preferred, older ones are fallbacks.
	Package string `json:"package"`
}

// OCISource pulls a kernel from an OCI image (cilium/ci-kernels layout:
// /boot/vmlinuz and optionally /boot/config; lvh kernel images are accepted too).
// The registry host is not part of the catalog: it comes from configuration
// (BPFMATRIX_OCI_REGISTRY or --oci-registry), defaulting to ghcr.io, where
// cilium/ci-kernels publishes (fetch.DefaultOCIRegistry).
type OCISource struct {
	// Registry is host[:port]; empty takes the configured registry. A
	// reference given on the command line (oci:REGISTRY/REPO:TAG) sets it.
	Registry   string `json:"registry,omitempty"`
	Repository string `json:"repository"`
	// Tag or Digest (sha256:<hex>) names the image; exactly one is set.
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// Ref is the reference as it is pulled: [REGISTRY/]REPO:TAG or
// [REGISTRY/]REPO@sha256:..., registry as configured when empty.
func (s *OCISource) Ref(registry string) string {
	if s.Registry != "" {
		registry = s.Registry
	}
	r := s.Repository
	if registry != "" {
		r = registry + "/" + r
	}
	if s.Digest != "" {
		return r + "@" + s.Digest
	}
	return r + ":" + s.Tag
}

// FileSource is a kernel image on the local disk. In a catalog file, a
// relative path is relative to the file's directory (ParseFile).
type FileSource struct {
	Image  string `json:"image"`
	Config string `json:"config,omitempty"`
	// Digest (sha256:<hex>), when set, pins the image's content: a file
	// that no longer hashes to it is refused instead of booted. The
	// command line pins every image it is given, so that a rebuilt image
	// at the same path is a new kernel for the cache, not the old one.
	Digest string `json:"digest,omitempty"`
}

// Source is one way to obtain a kernel. Exactly one field is set.
type Source struct {
	Debian *DebianSource `json:"debian,omitempty"`
	OCI    *OCISource    `json:"oci,omitempty"`
	File   *FileSource   `json:"file,omitempty"`
}

// Kind returns "debian", "oci" or "file".
func (s Source) Kind() string {
	switch {
	case s.Debian != nil:
		return "debian"
	case s.OCI != nil:
		return "oci"
	case s.File != nil:
		return "file"
	}
	return ""
}

func (s Source) String() string {
	switch {
	case s.Debian != nil:
		return "debian:" + s.Debian.Suite + "/" + s.Debian.Package
	case s.OCI != nil:
		return "oci:" + s.OCI.Ref("")
	case s.File != nil:
		return "file:" + s.File.Image
	}
	return "invalid"
}

func (s Source) validate() error {
	n := 0
	if s.Debian != nil {
		n++
		if s.Debian.Suite == "" || s.Debian.Package == "" {
			return errors.New("debian source needs suite and package")
		}
		if _, err := regexp.Compile(s.Debian.Package); err != nil {
			return fmt.Errorf("debian source package pattern: %w", err)
		}
	}
	if s.OCI != nil {
		n++
		if s.OCI.Repository == "" || (s.OCI.Tag == "") == (s.OCI.Digest == "") {
			return errors.New("oci source needs repository and one of tag, digest")
		}
		if s.OCI.Digest != "" && !digestRE.MatchString(s.OCI.Digest) {
			return fmt.Errorf("oci source digest %q: want sha256:<64 hex digits>", s.OCI.Digest)
		}
	}
	if s.File != nil {
		n++
		if s.File.Image == "" {
			return errors.New("file source needs image")
		}
		if s.File.Digest != "" && !digestRE.MatchString(s.File.Digest) {
			return fmt.Errorf("file source digest %q: want sha256:<64 hex digits>", s.File.Digest)
		}
	}
	if n != 1 {
		return fmt.Errorf("source must set exactly one of debian, oci, file (has %d)", n)
	}
	return nil
}

// KernelSpec is one catalog entry.
type KernelSpec struct {
	Name    string   `json:"name"`
	Version Version  `json:"version"`
	Arch    Arch     `json:"arch"`
	Default bool     `json:"default,omitempty"`
	Sources []Source `json:"sources"`
}

// Catalog is the parsed kernel catalog.
type Catalog struct {
	Kernels []KernelSpec
	byName  map[string]int
}

type document struct {
	Schema  int          `json:"schema"`
	Kernels []KernelSpec `json:"kernels"`
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9.\-]*$`)
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// ValidName reports whether s can name a kernel: lower-case letters,
// digits, dots and dashes, starting with a letter or digit (it becomes
// file names in reports and caches).
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Parse parses a catalog document, rejecting unknown keys, duplicate names and
// entries without sources.
func Parse(data []byte) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc document
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse catalog: %w", err)
	}
	if doc.Schema != SchemaVersion {
		return nil, fmt.Errorf("parse catalog: schema %d, want %d", doc.Schema, SchemaVersion)
	}
	c := &Catalog{Kernels: doc.Kernels, byName: make(map[string]int)}
	for i, k := range c.Kernels {
		if err := k.validate(); err != nil {
			return nil, fmt.Errorf("parse catalog: %w", err)
		}
		if _, dup := c.byName[k.Name]; dup {
			return nil, fmt.Errorf("parse catalog: duplicate kernel %q", k.Name)
		}
		c.byName[k.Name] = i
	}
	return c, nil
}

// validate checks one entry: its name, arch, version and sources.
func (k KernelSpec) validate() error {
	if !nameRE.MatchString(k.Name) {
		return fmt.Errorf("invalid kernel name %q (want lower-case letters, digits, '.' and '-')", k.Name)
	}
	if k.Arch != AMD64 && k.Arch != ARM64 {
		return fmt.Errorf("kernel %s: unknown arch %q (want %s or %s)", k.Name, k.Arch, AMD64, ARM64)
	}
	if k.Version.Major == 0 {
		return fmt.Errorf("kernel %s: missing version", k.Name)
	}
	if len(k.Sources) == 0 {
		return fmt.Errorf("kernel %s: no sources", k.Name)
	}
	for _, s := range k.Sources {
		if err := s.validate(); err != nil {
			return fmt.Errorf("kernel %s: %w", k.Name, err)
		}
	}
	return nil
}

// Default returns the catalog embedded in the binary.
func Default() *Catalog {
	c, err := Parse(kernels.Catalog)
	if err != nil {
		// The embedded catalog is checked by tests; a failure here is a build bug.
		panic(err)
	}
	return c
}

// ErrUnknownKernel is returned (wrapped in *UnknownKernelError) for a name
// that is not in the catalog.
var ErrUnknownKernel = errors.New("unknown kernel")

// UnknownKernelError names the closest catalog entries to a mistyped name.
type UnknownKernelError struct {
	Name    string
	Closest []string
}

func (e *UnknownKernelError) Error() string {
	if len(e.Closest) == 0 {
		return fmt.Sprintf("unknown kernel %q (see 'bpfmatrix kernels list')", e.Name)
	}
	return fmt.Sprintf("unknown kernel %q (did you mean %s?)", e.Name, strings.Join(e.Closest, ", "))
}

func (e *UnknownKernelError) Unwrap() error { return ErrUnknownKernel }

// Lookup returns the spec named name.
func (c *Catalog) Lookup(name string) (KernelSpec, error) {
	if i, ok := c.byName[name]; ok {
		return c.Kernels[i], nil
	}
	return KernelSpec{}, &UnknownKernelError{Name: name, Closest: c.closest(name, 3)}
}

// LookupAll resolves several names, failing on the first unknown one.
func (c *Catalog) LookupAll(names []string) ([]KernelSpec, error) {
	specs := make([]KernelSpec, 0, len(names))
	for _, n := range names {
		k, err := c.Lookup(n)
		if err != nil {
			return nil, err
		}
		specs = append(specs, k)
	}
	return specs, nil
}

// Defaults returns the kernels that `bpfmatrix run` and `make matrix` use when
// none are named, optionally restricted to one architecture ("" for all).
func (c *Catalog) Defaults(arch Arch) []KernelSpec {
	var out []KernelSpec
	for _, k := range c.Kernels {
		if k.Default && (arch == "" || k.Arch == arch) {
			out = append(out, k)
		}
	}
	return out
}

func (c *Catalog) closest(name string, n int) []string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, k := range c.Kernels {
		d := levenshtein(name, k.Name)
		if strings.Contains(k.Name, name) || strings.Contains(name, k.Name) {
			d = min(d, 1)
		}
		if d <= max(2, len(name)/2) {
			cs = append(cs, cand{k.Name, d})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].d < cs[j].d })
	var out []string
	for i := 0; i < len(cs) && i < n; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
