package kbuild

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"

	"github.com/bpfmatrix/bpfmatrix/internal/atomicfile"
	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
)

// CatalogPath is the catalog of built kernels in cacheDir: a document in
// the embedded catalog's schema whose entries have one file source each.
func CatalogPath(cacheDir string) string {
	return filepath.Join(builtDir(cacheDir), "catalog.json")
}

type catalogDoc struct {
	Schema  int                  `json:"schema"`
	Kernels []catalog.KernelSpec `json:"kernels"`
}

// recordInCatalog adds or replaces b's entry (by name) in the built
// catalog, under a flock so that concurrent builds do not lose entries.
func recordInCatalog(cacheDir string, b *Built) error {
	p := CatalogPath(cacheDir)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("record %s: %w", b.Name, err)
	}
	l := flock.New(p + ".lock")
	if err := l.Lock(); err != nil {
		return fmt.Errorf("lock %s: %w", p, err)
	}
	defer l.Unlock()
	doc := catalogDoc{Schema: catalog.SchemaVersion}
	if data, err := os.ReadFile(p); err == nil {
		if _, err := catalog.Parse(data); err != nil {
			return fmt.Errorf("read built catalog %s: %w", p, err)
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("read built catalog %s: %w", p, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read built catalog: %w", err)
	}
	v, err := catalog.ParseVersion(b.Version)
	if err != nil {
		return fmt.Errorf("record %s: %w", b.Name, err)
	}
	// The catalog names mainline versions (as its Debian entries do); the
	// guest's uname gives the full release.
	spec := catalog.KernelSpec{Name: b.Name, Version: v.Mainline(), Arch: b.Arch,
		Sources: []catalog.Source{{File: &catalog.FileSource{Image: b.Image, Config: b.Config}}}}
	replaced := false
	for i, k := range doc.Kernels {
		if k.Name == b.Name {
			doc.Kernels[i], replaced = spec, true
		}
	}
	if !replaced {
		doc.Kernels = append(doc.Kernels, spec)
	}
	data, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return err
	}
	if _, err := catalog.Parse(data); err != nil {
		return fmt.Errorf("record %s: %w", b.Name, err)
	}
	return atomicfile.Write(p, append(data, '\n'), true)
}

// WithBuilt returns base with the built kernels of cacheDir merged over it
// (a built kernel replaces a base entry of the same name). A missing
// built catalog is no error; a damaged one is, naming its path.
func WithBuilt(base *catalog.Catalog, cacheDir string) (*catalog.Catalog, error) {
	p := CatalogPath(cacheDir)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return base, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read built catalog: %w", err)
	}
	built, err := catalog.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("read built catalog %s: %w", p, err)
	}
	doc := catalogDoc{Schema: catalog.SchemaVersion}
	names := map[string]bool{}
	for _, k := range built.Kernels {
		names[k.Name] = true
	}
	for _, k := range base.Kernels {
		if !names[k.Name] {
			doc.Kernels = append(doc.Kernels, k)
		}
	}
	doc.Kernels = append(doc.Kernels, built.Kernels...)
	merged, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return catalog.Parse(merged)
}
