package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func encode(t *testing.T, frames ...Frame) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, Flate)
	for _, f := range frames {
		require.NoError(t, w.WriteFrame(f.Type, f.Payload))
	}
	return buf.Bytes()
}

func readAll(r *Reader) ([]Frame, error) {
	var out []Frame
	for {
		f, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, f)
	}
}

func TestRoundTrip(t *testing.T) {
	random := make([]byte, 100_000)
	rand.New(rand.NewSource(1)).Read(random)
	text := []byte(strings.Repeat(`{"name":"ringbuf","supported":true}`+"\n", 20_000))
	for _, tc := range []struct {
		name       string
		payload    []byte
		compressed bool
	}{
		{"empty", []byte{}, false},
		{"small", []byte("hello\n"), false},
		{"random is sent raw", random, false},
		{"text is compressed", text, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := encode(t, Frame{TypeStdout, tc.payload}, Frame{TypeExit, []byte(`{"code":3}`)})
			assert.Equal(t, tc.compressed, b[6] == FlagFlate, "compression flag")
			if tc.compressed {
				assert.Less(t, len(b), len(tc.payload)/10)
			}
			frames, err := readAll(NewReader(bytes.NewReader(b), Flate))
			require.ErrorIs(t, err, io.EOF)
			require.Len(t, frames, 2)
			assert.Equal(t, TypeStdout, frames[0].Type)
			assert.True(t, bytes.Equal(tc.payload, frames[0].Payload), "payload differs")
			var e Exit
			require.NoError(t, frames[1].Decode(&e))
			assert.Equal(t, 3, e.Code)
		})
	}
}

func TestTruncatedIsAnError(t *testing.T) {
	full := encode(t, Frame{TypeHello, []byte(`{"version":1}`)}, Frame{TypeExit, []byte(`{"code":0}`)})
	first := headerLen + len(`{"version":1}`)
	for cut := 1; cut < len(full); cut++ {
		frames, err := readAll(NewReader(bytes.NewReader(full[:cut]), Flate))
		if cut == first {
			require.ErrorIs(t, err, io.EOF, "cut %d is a frame boundary", cut)
			require.Len(t, frames, 1)
			continue
		}
		require.ErrorIs(t, err, ErrTruncated, "cut at %d of %d", cut, len(full))
	}
}

func TestCorrupt(t *testing.T) {
	good := encode(t, Frame{TypeStdout, []byte("some output")})
	for _, tc := range []struct {
		name  string
		at    int
		want  error
		value byte
	}{
		{"magic", 0, ErrCorrupt, 'X'},
		{"flags", 6, ErrCorrupt, 0x80},
		{"payload bit flip", headerLen + 2, ErrCorrupt, 'Z'},
		{"crc", 12, ErrCorrupt, 0},
		{"huge length", 7, ErrCorrupt, 0xff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(good)
			b[tc.at] ^= tc.value | 1
			_, err := NewReader(bytes.NewReader(b), Flate).Next()
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.want), "got %v", err)
		})
	}
	t.Run("version", func(t *testing.T) {
		b := bytes.Clone(good)
		b[4] = Version + 1
		_, err := NewReader(bytes.NewReader(b), Flate).Next()
		require.ErrorContains(t, err, "protocol version")
	})
}

func TestParseJob(t *testing.T) {
	for _, tc := range []struct {
		name, in, err string
	}{
		{"ok", `{"version":1,"program":"/bpfmatrix/bin/x","dir":"/","data_port":"/dev/ttyS1"}`, ""},
		{"old version", `{"version":0,"program":"/x","dir":"/"}`, "version 0"},
		{"unknown key", `{"version":1,"program":"/x","dir":"/","cwd":"/"}`, "unknown field"},
		{"no program", `{"version":1,"dir":"/"}`, "no program"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseJob([]byte(tc.in))
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}

func TestUnknownCodecIsCorrupt(t *testing.T) {
	text := []byte(strings.Repeat("line of test output\n", 1000))
	b := encode(t, Frame{TypeStdout, text})
	require.Equal(t, FlagFlate, b[6])
	_, err := NewReader(bytes.NewReader(b)).Next()
	require.ErrorIs(t, err, ErrCorrupt, "a reader without the codec must not pass the compressed bytes on")
}

func TestOversizedCompressedPayloadIsCorrupt(t *testing.T) {
	// A well-formed frame whose DEFLATE payload expands past MaxPayload.
	body := Flate.Encode(nil, bytes.Repeat([]byte{'a'}, MaxPayload+1))
	var h [headerLen]byte
	copy(h[:4], magic[:])
	h[4], h[5], h[6] = Version, uint8(TypeStdout), FlagFlate
	binary.BigEndian.PutUint32(h[7:11], uint32(len(body)))
	crc := crc32.NewIEEE()
	crc.Write(h[4:11])
	crc.Write(body)
	binary.BigEndian.PutUint32(h[11:15], crc.Sum32())
	_, err := NewReader(bytes.NewReader(append(h[:], body...)), Flate).Next()
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "payload exceeds")
}

func TestFilePayload(t *testing.T) {
	for _, tc := range []struct {
		name  string
		chunk []byte
	}{
		{"/bpfmatrix/out/1/c.out", []byte("mode: set\n")},
		{"/bpfmatrix/work/empty", nil},
	} {
		name, chunk, err := ParseFilePayload(FilePayload(tc.name, tc.chunk))
		require.NoError(t, err)
		assert.Equal(t, tc.name, name)
		assert.Equal(t, len(tc.chunk), len(chunk))
	}
	for _, bad := range [][]byte{nil, {0}, {5, 'a'}, {0x80}} {
		_, _, err := ParseFilePayload(bad)
		require.ErrorIs(t, err, ErrCorrupt, "%q", bad)
	}
}
