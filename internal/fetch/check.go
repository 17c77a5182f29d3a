package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Check resolves spec's sources over the network without downloading the
// kernel: the verified Debian index and a HEAD of the chosen .deb, or the OCI
// manifest. It reports the first source that would be used, or why none
// would. A cached kernel is reported without network access.
func (f *Fetcher) Check(ctx context.Context, spec catalog.KernelSpec) (bool, string) {
	if k, ok := f.Cached(spec); ok {
		return true, "yes (cached: " + k.Source + ")"
	}
	var why []string
	for _, src := range spec.Sources {
		desc, err := f.checkSource(ctx, spec, src)
		if err == nil {
			return true, "yes (" + desc + ")"
		}
		why = append(why, fmt.Sprintf("%s: %v", src, err))
		if ctx.Err() != nil {
			break
		}
	}
	return false, "no: " + strings.Join(why, "; ")
}

func (f *Fetcher) checkSource(ctx context.Context, spec catalog.KernelSpec, src catalog.Source) (string, error) {
	switch {
	case src.Debian != nil:
		base, _ := f.mirrorFor(src.Debian.Suite)
		if base == "" {
			return "", f.errNoMirror(src.Debian.Suite)
		}
		arch := spec.Arch.DebianArch()
		index, err := f.debianIndex(ctx, base, src.Debian.Suite, arch)
		if err != nil {
			return "", err
		}
		re, err := regexp.Compile(src.Debian.Package)
		if err != nil {
			return "", err
		}
		cands, err := selectPackages(index, re.MatchString, arch)
		if err != nil {
			return "", err
		}
		_, p, skipped, err := firstServed(cands, func(p debPackage) (struct{}, error) {
			return struct{}{}, f.head(ctx, base+"/"+p.Filename)
		})
		if err != nil {
			return "", err
		}
		desc := fmt.Sprintf("debian %s %s %s", src.Debian.Suite, p.Name, p.Version)
		if len(skipped) > 0 {
			desc += fmt.Sprintf(", %s not served", strings.Join(skipped, ", "))
		}
		return desc, nil
	case src.OCI != nil:
		ref, err := ociReference(f.ociRegistry, src.OCI)
		if err != nil {
			return "", err
		}
		desc, err := remote.Get(ref, f.remoteOptions(ctx, spec)...)
		if err != nil {
			return "", f.ociErr(err, src.OCI)
		}
		return "oci " + ref.String() + "@" + desc.Digest.String(), nil
	case src.File != nil:
		if _, err := os.Stat(src.File.Image); err != nil {
			return "", err
		}
		return "file " + src.File.Image, nil
	}
	return "", errors.New("unknown source kind")
}

func (f *Fetcher) head(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusNotFound, http.StatusGone:
		return fmt.Errorf("HEAD %s: %w (%s)", url, errNotServed, resp.Status)
	}
	return &httpStatusError{URL: url, Status: resp.Status}
}
