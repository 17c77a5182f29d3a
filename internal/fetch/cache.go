package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/gofrs/flock"
)

// recordSchema versions the per-kernel record format.
const recordSchema = 1

// record is the small JSON file naming a cached kernel's blobs.
type record struct {
	Schema         int      `json:"schema"`
	Name           string   `json:"name"`
	Arch           string   `json:"arch"`
	Version        string   `json:"version"`
	Release        string   `json:"release"`
	Source         string   `json:"source"`
	PackageVersion string   `json:"package_version"`
	Image          blobRef  `json:"image"`
	Config         *blobRef `json:"config,omitempty"`
	SystemMap      *blobRef `json:"system_map,omitempty"`
	// Modules is the module index (ModuleIndex), added when first asked
	// for: older records and kernels not from Debian have none.
	Modules   *blobRef  `json:"modules,omitempty"`
	FetchedAt time.Time `json:"fetched_at"`
}

type blobRef struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

func (f *Fetcher) root() string      { return filepath.Join(f.opts.CacheDir, "kernels") }
func (f *Fetcher) tmpDir() string    { return filepath.Join(f.root(), "tmp") }
func (f *Fetcher) blobDir() string   { return filepath.Join(f.root(), "blobs", "sha256") }
func (f *Fetcher) recordDir() string { return filepath.Join(f.root(), "records") }
func (f *Fetcher) lockDir() string   { return filepath.Join(f.root(), "locks") }

// specKey names a spec's record: the name plus a hash of everything in the
// catalog entry, so that editing an entry's sources does not return a kernel
// fetched under the old definition.
func specKey(spec catalog.KernelSpec) string {
	b, _ := json.Marshal(spec)
	h := sha256.Sum256(b)
	return spec.Name + "-" + hex.EncodeToString(h[:6])
}

func (f *Fetcher) recordPath(spec catalog.KernelSpec) string {
	return filepath.Join(f.recordDir(), specKey(spec)+".json")
}

func (f *Fetcher) blobPath(digest string) string {
	return filepath.Join(f.blobDir(), strings.TrimPrefix(digest, "sha256:"))
}

// parseRecord reads a kernel record. Anything it accepts names blobs by
// well-formed digests with sizes that can be compared.
func parseRecord(data []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("parse record: %w", err)
	}
	if r.Schema != recordSchema {
		return nil, fmt.Errorf("parse record: schema %d, want %d", r.Schema, recordSchema)
	}
	for _, b := range []*blobRef{&r.Image, r.Config, r.SystemMap, r.Modules} {
		if b != nil && (!validDigest(b.Digest) || b.Size < 0) {
			return nil, fmt.Errorf("parse record: malformed blob %q (%d bytes)", b.Digest, b.Size)
		}
	}
	return &r, nil
}

// Cached returns spec's kernel if the cache holds a complete entry whose
// blobs match their digests (see verifyBlob: one stat per blob when nothing
// changed since they were last hashed) and whose image boots on spec's
// architecture. A corrupt blob makes the entry a miss and is left in place
// for Fetch, which quarantines it, fetches it again and says so
// (Kernel.Repaired). It never touches the network.
func (f *Fetcher) Cached(spec catalog.KernelSpec) (*Kernel, bool) {
	k, _, err := f.cached(spec, false)
	return k, err == nil
}

// cached is Cached with the reasons for a miss: the blobs it found corrupt
// (moved to quarantine with repair) and an error (errBlobMissing or
// errNoRecord for a plain miss, ErrNotKernelImage, or why reading failed).
func (f *Fetcher) cached(spec catalog.KernelSpec, repair bool) (*Kernel, []*CorruptBlobError, error) {
	data, err := os.ReadFile(f.recordPath(spec))
	if err != nil {
		return nil, nil, errNoRecord
	}
	r, err := parseRecord(data)
	if err != nil {
		return nil, nil, errNoRecord
	}
	k := &Kernel{
		Name: spec.Name, Arch: spec.Arch, Version: spec.Version, Release: r.Release,
		Digest: r.Image.Digest, Source: r.Source, PackageVersion: r.PackageVersion,
	}
	if k.Version.Major == 0 {
		// The spec leaves the version to the image; commit recorded it.
		if v, err := catalog.ParseVersion(r.Version); err == nil && v.Major != 0 {
			k.Version = v
		} else {
			return nil, nil, errNoRecord
		}
	}
	var corrupt []*CorruptBlobError
	var firstErr error
	for _, b := range []struct {
		ref  *blobRef
		role string
		dst  *string
	}{{&r.Image, "image", &k.Image}, {r.Config, "config", &k.Config}, {r.SystemMap, "System.map", &k.SystemMap}} {
		if b.ref == nil {
			continue
		}
		c := f.blobCheck(spec, b.role)
		p, err := f.verifyBlob(b.ref, c, repair)
		var ce *CorruptBlobError
		switch {
		case errors.As(err, &ce):
			corrupt = append(corrupt, ce)
		case err != nil && firstErr == nil:
			firstErr = err
		}
		*b.dst = p
	}
	if len(corrupt) > 0 {
		return nil, corrupt, corruptBlobs(corrupt)
	}
	if firstErr != nil {
		return nil, nil, firstErr
	}
	if r.Modules != nil {
		// The module index is optional: one missing or corrupt (then
		// quarantined when repairing) leaves the kernel a hit without it,
		// and ModuleIndex builds it again.
		if p, err := f.verifyBlob(r.Modules, f.blobCheck(spec, "module index"), repair); err == nil {
			k.Modules = p
		}
	}
	return k, nil, nil
}

// errNoRecord: the cache has no (readable) record for the spec.
var errNoRecord = errors.New("no cache record")

// corruptBlobs is several CorruptBlobErrors as one error on one line
// (errors.Join would put each on its own).
type corruptBlobs []*CorruptBlobError

func (cs corruptBlobs) Error() string {
	msgs := make([]string, len(cs))
	for i, c := range cs {
		msgs[i] = c.Error()
	}
	return strings.Join(msgs, "; ")
}

func (cs corruptBlobs) Unwrap() []error {
	out := make([]error, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out
}

// blobCheck describes spec's blob of role for verifyBlob and putBlob.
func (f *Fetcher) blobCheck(spec catalog.KernelSpec, role string) blobCheck {
	return blobCheck{
		what:  role + " of " + spec.Name,
		fix:   "bpfmatrix kernels fetch " + spec.Name,
		image: role == "image",
		arch:  string(spec.Arch),
	}
}

// lock takes the per-kernel flock, waiting for another process filling the
// same entry.
func (f *Fetcher) lock(ctx context.Context, spec catalog.KernelSpec) (func(), error) {
	l := flock.New(filepath.Join(f.lockDir(), specKey(spec)+".lock"))
	ok, err := l.TryLockContext(ctx, 100*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("lock cache entry: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("lock cache entry: %w", ctx.Err())
	}
	return func() { l.Unlock() }, nil
}

// commit moves the extracted files into the blob store (putBlob: hashed
// where they land, a wrong file already there replaced and returned) and
// then writes the record; the record's rename is what makes the entry
// visible.
func (f *Fetcher) commit(spec catalog.KernelSpec, version catalog.Version, kf *kernelFiles, source, pkgVersion string) (*Kernel, []*CorruptBlobError, error) {
	r := record{
		Schema: recordSchema, Name: spec.Name, Arch: string(spec.Arch), Version: version.String(),
		Release: kf.Release, Source: source, PackageVersion: pkgVersion, FetchedAt: f.now().UTC(),
	}
	var replaced []*CorruptBlobError
	put := func(b *tempBlob, role string) (*blobRef, error) {
		if b == nil {
			return nil, nil
		}
		ref, bad, err := f.putBlob(b, f.blobCheck(spec, role))
		if bad != nil {
			replaced = append(replaced, bad)
		}
		return ref, err
	}
	img, err := put(kf.Image, "image")
	if err != nil {
		return nil, nil, err
	}
	r.Image = *img
	if r.Config, err = put(kf.Config, "config"); err != nil {
		return nil, nil, err
	}
	if r.SystemMap, err = put(kf.SystemMap, "System.map"); err != nil {
		return nil, nil, err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	if err := atomicfile.Write(f.recordPath(spec), append(data, '\n'), true); err != nil {
		return nil, nil, fmt.Errorf("store record: %w", err)
	}
	k, _, err := f.cached(spec, false)
	if err != nil {
		return nil, nil, fmt.Errorf("store record: entry unusable after commit: %w", err)
	}
	return k, replaced, nil
}

// removeStaleTemps deletes temp files a killed run left behind. Only old ones:
// a concurrent run may be writing fresh ones right now.
func (f *Fetcher) removeStaleTemps() {
	ents, err := os.ReadDir(f.tmpDir())
	if err != nil {
		return
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			os.Remove(filepath.Join(f.tmpDir(), e.Name()))
		}
	}
}
