package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/bpfmatrix/bpfmatrix/internal/catalog"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ociReference builds <registry>/<repository>:<tag> (or @<digest>), the
// registry being the source's own when it names one. Loopback registries
// are spoken to over plain HTTP (name.Insecure), as test registries are.
func ociReference(registry string, src *catalog.OCISource) (name.Reference, error) {
	var opts []name.Option
	if src.Registry != "" {
		registry = src.Registry
	}
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	if host == "localhost" || net.ParseIP(host).IsLoopback() {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(src.Ref(registry), opts...)
}

// fetchOCI pulls the image for spec's architecture and extracts the kernel
// from its flattened filesystem (whiteouts applied).
func (f *Fetcher) fetchOCI(ctx context.Context, spec catalog.KernelSpec, src *catalog.OCISource) (*kernelFiles, string, string, error) {
	ref, err := ociReference(f.ociRegistry, src)
	if err != nil {
		return nil, "", "", fmt.Errorf("parse image reference: %w", err)
	}
	img, err := remote.Image(ref, f.remoteOptions(ctx, spec)...)
	if err != nil {
		return nil, "", "", fmt.Errorf("pull %s: %w", ref, f.ociErr(err, src))
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, "", "", fmt.Errorf("pull %s: %w", ref, f.ociErr(err, src))
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	var r io.Reader = rc
	if f.opts.Progress != nil {
		r = &countingReader{r: rc, fn: func(n int64) { f.opts.Progress(spec.Name, n, -1) }}
	}
	// Layer blobs are checked against their digests as they are read; a
	// mismatch surfaces as a read error of the tar stream.
	kf, err := extractKernel(r, f.tmpDir(), "", true)
	if err != nil {
		var ie *IntegrityError
		if errors.As(err, &ie) {
			return nil, "", "", err
		}
		if strings.Contains(err.Error(), "error verifying") || strings.Contains(err.Error(), "digest") {
			return nil, "", "", &IntegrityError{What: ref.String(), Err: err}
		}
		return nil, "", "", fmt.Errorf("extract %s: %w", ref, err)
	}
	return kf, "oci " + ref.String() + "@" + digest.String(), digest.String(), nil
}

// remoteOptions are go-containerregistry's options for one pull or
// manifest check: our transport (its dial timeout), ctx, spec's platform,
// and no retries on a registry that cannot be reached (go-containerregistry
// retries temporary network errors with backoff; a refused connection or
// an unknown host stays so for the seconds that would add).
func (f *Fetcher) remoteOptions(ctx context.Context, spec catalog.KernelSpec) []remote.Option {
	tr := f.client.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(tr),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: spec.Arch.GOARCH()}),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}
}

// errRegistryUnreachable marks a registry that could not be connected to
// (unknown host, refused, dial timeout).
var errRegistryUnreachable = errors.New("not reachable")

// ociErr turns "no such manifest/repository" into errNotServed and a
// connection failure into one short "registry ... not reachable" line.
func (f *Fetcher) ociErr(err error, src *catalog.OCISource) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusNotFound || te.StatusCode == http.StatusUnauthorized) {
		return fmt.Errorf("%v: %w", err, errNotServed)
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial") {
		cause := err
		if dnsErr != nil {
			cause = dnsErr
		} else {
			cause = opErr
		}
		if src.Registry != "" {
			// The reference named its registry: the setting is not the fix.
			return fmt.Errorf("registry %s %w (%v)", src.Registry, errRegistryUnreachable, cause)
		}
		return fmt.Errorf("registry %s %w (%v; set BPFMATRIX_OCI_REGISTRY or --oci-registry to a registry serving cilium/ci-kernels)", f.ociRegistry, errRegistryUnreachable, cause)
	}
	return err
}

type countingReader struct {
	r  io.Reader
	n  int64
	fn func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.fn(c.n)
	return n, err
}
