package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire"
	"github.com/bpfmatrix/bpfmatrix/internal/guest/wire/zstdcodec"
)

// Sessions in testdata/sessions are the data port's bytes from real boots
// of debian-6.1, recorded by rerunning the QEMU line bpfmatrix prints with
// its fd 4 sent to a file:
//
//   - init-exec-ls.bin: `bpfmatrix exec --keep --kernel debian-6.1 --
//     /bin/ls -la /bpfmatrix /proc/self/` (bpfmatrix-init, DEFLATE frames);
//   - agent-repro-loop.bin: `bpfmatrix repro --kernel debian-6.1
//     tests/testdata/objects/loop.o`, the QEMU line of its rerun.sh (the
//     agent as /init, zstd frames).
func sessions(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob("testdata/sessions/*.bin")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[filepath.Base(p)] = b
	}
	return out
}

func newReader(b []byte) *wire.Reader {
	return wire.NewReader(bytes.NewReader(b), wire.Flate, zstdcodec.New())
}

// TestRecordedSessions: each recorded session reads whole: a hello first,
// an exit last, output between, and a clean end of stream.
func TestRecordedSessions(t *testing.T) {
	for name, b := range sessions(t) {
		t.Run(name, func(t *testing.T) {
			r := newReader(b)
			var types []wire.Type
			var flags = map[wire.Type]int{}
			for {
				f, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				types = append(types, f.Type)
				flags[f.Type]++
			}
			require.GreaterOrEqual(t, len(types), 3)
			assert.Equal(t, wire.TypeHello, types[0])
			assert.Equal(t, wire.TypeExit, types[len(types)-1])
			assert.Positive(t, flags[wire.TypeStdout])
			// The recordings carry compressed frames, so the fuzzer starts
			// from the codecs' real output too.
			assert.Positive(t, compressedFrames(b), "has compressed frames")
		})
	}
}

// compressedFrames counts the frames of a well-formed stream that carry a
// codec flag.
func compressedFrames(b []byte) int {
	n := 0
	for len(b) >= 15 {
		if b[6] != 0 {
			n++
		}
		b = b[15+int(uint32(b[7])<<24|uint32(b[8])<<16|uint32(b[9])<<8|uint32(b[10])):]
	}
	return n
}

// FuzzReader: no input makes the frame reader panic or return a frame over
// MaxPayload; it ends with io.EOF only at a frame boundary; and every frame
// it returns survives a round trip through a Writer. The seeds are the
// recorded sessions, whole and cut short.
func FuzzReader(f *testing.F) {
	for _, b := range sessions(f) {
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:15])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newReader(data)
		var frames []wire.Frame
		var err error
		for {
			var fr wire.Frame
			fr, err = r.Next()
			if err != nil {
				break
			}
			if len(fr.Payload) > wire.MaxPayload {
				t.Fatalf("frame of %d bytes over MaxPayload", len(fr.Payload))
			}
			// What the host does with the JSON frames must not panic.
			switch fr.Type {
			case wire.TypeHello:
				var h wire.Hello
				_ = fr.Decode(&h)
			case wire.TypeExit:
				var e wire.Exit
				_ = fr.Decode(&e)
			}
			frames = append(frames, fr)
		}
		if errors.Is(err, io.EOF) {
			// A clean end only after whole frames: the input re-encodes
			// to frames that read back the same.
			var buf bytes.Buffer
			w := wire.NewWriter(&buf, wire.Flate)
			for _, fr := range frames {
				if err := w.WriteFrame(fr.Type, fr.Payload); err != nil {
					t.Fatalf("re-encode %s frame: %v", fr.Type, err)
				}
			}
			back := newReader(buf.Bytes())
			for i, want := range frames {
				got, err := back.Next()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if got.Type != want.Type || !bytes.Equal(got.Payload, want.Payload) {
					t.Fatalf("frame %d differs after a round trip", i)
				}
			}
			if _, err := back.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the last frame: %v", err)
			}
		}
	})
}

// FuzzFrame reaches past the checksum, which random mutation rarely
// forges: it frames any type, flags and body with a valid CRC, so the
// codecs' decoders see arbitrary input. Seeds are the recorded sessions'
// frames, as sent (compressed bodies included).
func FuzzFrame(f *testing.F) {
	for _, b := range sessions(f) {
		for len(b) >= 15 {
			size := int(uint32(b[7])<<24 | uint32(b[8])<<16 | uint32(b[9])<<8 | uint32(b[10]))
			f.Add(b[5], b[6], b[15:15+size])
			b = b[15+size:]
		}
	}
	f.Fuzz(func(t *testing.T, typ, flags byte, body []byte) {
		h := []byte{'B', 'P', 'F', 'M', wire.Version, typ, flags, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(h[7:11], uint32(len(body)))
		crc := crc32.NewIEEE()
		crc.Write(h[4:11])
		crc.Write(body)
		binary.BigEndian.PutUint32(h[11:15], crc.Sum32())
		fr, err := newReader(append(h, body...)).Next()
		if err != nil {
			return
		}
		if len(fr.Payload) > wire.MaxPayload {
			t.Fatalf("frame of %d bytes over MaxPayload", len(fr.Payload))
		}
		if flags == 0 && !bytes.Equal(fr.Payload, body) {
			t.Fatal("a raw frame's payload is its body")
		}
	})
}
