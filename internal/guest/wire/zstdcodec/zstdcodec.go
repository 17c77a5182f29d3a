// Package zstdcodec is the zstd [wire.Codec]: the agent compresses its
// output with it (probe and verifier JSON shrinks about 30:1), and the host
// reads it. It lives apart from package wire so that bpfmatrix-init, which
// imports wire, does not run zstd's package initializers in every guest.
package zstdcodec

import (
	"github.com/klauspost/compress/zstd"

	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
)

// New returns a zstd codec (fastest level, one goroutine, low memory: it
// runs in a guest).
func New() wire.Codec {
	// Errors only come from invalid options.
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(wire.MaxPayload))
	return &codec{enc: enc, dec: dec}
}

type codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func (*codec) Flag() uint8 { return wire.FlagZstd }

func (c *codec) Encode(dst, src []byte) []byte { return c.enc.EncodeAll(src, dst) }

// Decode relies on the decoder's memory limit (wire.MaxPayload) for limit.
func (c *codec) Decode(src []byte, _ int) ([]byte, error) { return c.dec.DecodeAll(src, nil) }
