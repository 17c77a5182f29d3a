package zstdcodec_test

import (
	"bytes"
	"io"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire/zstdcodec"
)

func TestRoundTrip(t *testing.T) {
	random := make([]byte, 100_000)
	rand.New(rand.NewSource(1)).Read(random)
	text := []byte(strings.Repeat(`{"name":"ringbuf","supported":true}`+"\n", 20_000))
	for _, tc := range []struct {
		name     string
		payload  []byte
		wantFlag uint8
	}{
		{"text is compressed", text, wire.FlagZstd},
		{"random is sent raw", random, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := wire.NewWriter(&buf, zstdcodec.New())
			require.NoError(t, w.WriteFrame(wire.TypeStdout, tc.payload))
			b := buf.Bytes()
			assert.Equal(t, tc.wantFlag, b[6], "compression flag")
			if tc.wantFlag != 0 {
				assert.Less(t, len(b), len(tc.payload)/10)
			}
			// The host reads frames of either codec.
			r := wire.NewReader(bytes.NewReader(b), wire.Flate, zstdcodec.New())
			f, err := r.Next()
			require.NoError(t, err)
			assert.True(t, bytes.Equal(tc.payload, f.Payload), "payload differs")
			_, err = r.Next()
			require.ErrorIs(t, err, io.EOF)
		})
	}
}

func TestOversizedPayloadIsCorrupt(t *testing.T) {
	// A frame whose zstd payload expands past wire.MaxPayload.
	big := bytes.Repeat([]byte{'a'}, wire.MaxPayload+1)
	c := zstdcodec.New()
	_, err := c.Decode(c.Encode(nil, big), wire.MaxPayload)
	require.Error(t, err)
}
