package wire

import (
	"bytes"
	"compress/flate"
	"io"
)

// Flate is the standard library's DEFLATE at BestSpeed: bpfmatrix-init's
// codec. Its package initializers are a few ms under TCG where zstd's are
// tens, and it still shrinks the text a job prints several-fold, which is
// what matters on a 1.1 MB/s serial line.
var Flate Codec = flateCodec{}

type flateCodec struct{}

func (flateCodec) Flag() uint8 { return FlagFlate }

func (flateCodec) Encode(dst, src []byte) []byte {
	b := bytes.NewBuffer(dst)
	// Errors only come from an invalid level or from the buffer, which
	// does not fail.
	fw, _ := flate.NewWriter(b, flate.BestSpeed)
	_, _ = fw.Write(src)
	_ = fw.Close()
	return b.Bytes()
}

func (flateCodec) Decode(src []byte, limit int) ([]byte, error) {
	fr := flate.NewReader(bytes.NewReader(src))
	defer fr.Close()
	return io.ReadAll(io.LimitReader(fr, int64(limit)+1))
}
