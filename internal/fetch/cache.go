package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	Schema         int       `json:"schema"`
	Name           string    `json:"name"`
	Arch           string    `json:"arch"`
	Version        string    `json:"version"`
	Release        string    `json:"release"`
	Source         string    `json:"source"`
	PackageVersion string    `json:"package_version"`
	Image          blobRef   `json:"image"`
	Config         *blobRef  `json:"config,omitempty"`
	SystemMap      *blobRef  `json:"system_map,omitempty"`
	FetchedAt      time.Time `json:"fetched_at"`
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

// Cached returns spec's kernel if the cache holds a complete entry. It never
// touches the network.
func (f *Fetcher) Cached(spec catalog.KernelSpec) (*Kernel, bool) {
	data, err := os.ReadFile(f.recordPath(spec))
	if err != nil {
		return nil, false
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil || r.Schema != recordSchema {
		return nil, false
	}
	k := &Kernel{
		Name: spec.Name, Arch: spec.Arch, Version: spec.Version, Release: r.Release,
		Digest: r.Image.Digest, Source: r.Source, PackageVersion: r.PackageVersion,
	}
	var ok bool
	if k.Image, ok = f.blobPresent(&r.Image); !ok {
		return nil, false
	}
	if r.Config != nil {
		if k.Config, ok = f.blobPresent(r.Config); !ok {
			return nil, false
		}
	}
	if r.SystemMap != nil {
		if k.SystemMap, ok = f.blobPresent(r.SystemMap); !ok {
			return nil, false
		}
	}
	return k, true
}

// blobPresent checks a blob by size; its content was hashed before the rename
// that made it visible, and blob names are their digests.
func (f *Fetcher) blobPresent(b *blobRef) (string, bool) {
	if !strings.HasPrefix(b.Digest, "sha256:") || len(b.Digest) != len("sha256:")+64 {
		return "", false
	}
	p := f.blobPath(b.Digest)
	st, err := os.Stat(p)
	if err != nil || st.Size() != b.Size {
		return "", false
	}
	return p, true
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

// commit moves the extracted files into the blob store and then writes the
// record; the record's rename is what makes the entry visible.
func (f *Fetcher) commit(spec catalog.KernelSpec, kf *kernelFiles, source, pkgVersion string) (*Kernel, error) {
	r := record{
		Schema: recordSchema, Name: spec.Name, Arch: string(spec.Arch), Version: spec.Version.String(),
		Release: kf.Release, Source: source, PackageVersion: pkgVersion, FetchedAt: f.now().UTC(),
	}
	put := func(b *tempBlob) (*blobRef, error) {
		if b == nil {
			return nil, nil
		}
		dst := f.blobPath(b.Digest)
		if st, err := os.Stat(dst); err == nil && st.Size() == b.Size {
			return &blobRef{Digest: b.Digest, Size: b.Size}, nil
		}
		if err := os.Chmod(b.Path, 0o644); err != nil {
			return nil, err
		}
		if err := os.Rename(b.Path, dst); err != nil {
			return nil, fmt.Errorf("store blob: %w", err)
		}
		return &blobRef{Digest: b.Digest, Size: b.Size}, nil
	}
	img, err := put(kf.Image)
	if err != nil {
		return nil, err
	}
	r.Image = *img
	if r.Config, err = put(kf.Config); err != nil {
		return nil, err
	}
	if r.SystemMap, err = put(kf.SystemMap); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(f.recordPath(spec), append(data, '\n'), true); err != nil {
		return nil, fmt.Errorf("store record: %w", err)
	}
	k, ok := f.Cached(spec)
	if !ok {
		return nil, fmt.Errorf("store record: entry incomplete after commit")
	}
	return k, nil
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
