// Package fetchtest serves tests of the OCI kernel source: it pushes an
// image to a registry (go-containerregistry's loopback registry in the
// tests). Only tests import it.
package fetchtest

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// PushImage pushes to ref (a plain-HTTP registry) a one-layer linux/amd64
// image holding files (path in the image -> contents), the way
// cilium/ci-kernels and little-vm-helper images are built; tb fails on
// any error.
func PushImage(tb testing.TB, ref string, files map[string][]byte) {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, b := range files {
		must(tb, tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(b)
		must(tb, err)
	}
	must(tb, tw.Close())
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	must(tb, err)
	img, err := mutate.AppendLayers(empty.Image, layer)
	must(tb, err)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	must(tb, err)
	r, err := name.ParseReference(ref, name.Insecure)
	must(tb, err)
	must(tb, remote.Write(r, img))
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
