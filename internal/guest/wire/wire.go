package wire

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// Version is the protocol version written into every frame and into [Job].
const Version = 1

// Paths inside the guest's initramfs.
const (
	// JobPath holds the JSON [Job].
	JobPath = "/bpfmatrix/job.json"
	// BinDir holds the job's program.
	BinDir = "/bpfmatrix/bin"
	// WorkDir holds the host Dir's contents; the job's working directory
	// is WorkDir or a directory below it ([Job].Dir).
	WorkDir = "/bpfmatrix/work"
	// OutDir holds the directories and files the host rewrote a job's
	// output paths to (go test's -test.coverprofile, -test.gocoverdir...).
	OutDir = "/bpfmatrix/out"
)

// MaxPayload bounds one frame's payload (after decompression too), so a
// corrupt length cannot make the host allocate gigabytes.
const MaxPayload = 4 << 20

const headerLen = 4 + 1 + 1 + 1 + 4 + 4

var magic = [4]byte{'B', 'P', 'F', 'M'}

// Type says what a frame carries.
type Type uint8

const (
	TypeHello  Type = 1 // JSON Hello: the agent is up
	TypeStdout Type = 2 // raw bytes of the job's stdout
	TypeStderr Type = 3 // raw bytes of the job's stderr
	TypeExit   Type = 4 // JSON Exit: the job is over; always the last frame
	// TypeStdin goes the other way, host to guest, when Job.Stdin is set:
	// raw bytes for the job's stdin; an empty payload is end of file.
	TypeStdin Type = 5
	// TypeFile carries part of a file the job wrote to one of
	// [Job].Outputs: see [FilePayload]. Frames of one file come in order,
	// the first one starting it; all of them come before TypeExit.
	TypeFile Type = 6
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeStdout:
		return "stdout"
	case TypeStderr:
		return "stderr"
	case TypeStdin:
		return "stdin"
	case TypeExit:
		return "exit"
	case TypeFile:
		return "file"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Compression flags: a frame's payload is raw (0) or compressed by the
// codec whose flag it carries.
const (
	// FlagZstd: a zstd frame (package zstdcodec: the agent, and the host).
	FlagZstd uint8 = 1
	// FlagFlate: raw DEFLATE ([Flate]: bpfmatrix-init, and the host).
	FlagFlate uint8 = 2
)

// Codec compresses frame payloads. A Writer uses one; a Reader accepts the
// ones it is given (and raw payloads always). The codec is not part of the
// wire package's imports on purpose: a package's initializers run in every
// guest's /init, and zstd's (with the crypto packages it imports) cost tens
// of ms under TCG.
type Codec interface {
	// Flag is the frame flag of this codec's payloads.
	Flag() uint8
	// Encode appends the compressed src to dst.
	Encode(dst, src []byte) []byte
	// Decode returns the decompressed src, or an error if it is corrupt. It
	// need not return more than limit+1 bytes: the Reader refuses anything
	// longer than limit.
	Decode(src []byte, limit int) ([]byte, error)
}

// Errors returned by [Reader.Next].
var (
	ErrTruncated = errors.New("truncated frame")
	ErrCorrupt   = errors.New("corrupt frame")
)

// Job is what the guest agent runs. The host writes it to [JobPath].
type Job struct {
	Version int `json:"version"`
	// Program is the guest path of the static binary to run.
	Program string   `json:"program"`
	Args    []string `json:"args,omitempty"`
	Env     []string `json:"env,omitempty"`
	// Dir is the guest working directory.
	Dir string `json:"dir"`
	// DataPort is the guest device carrying frames (e.g. /dev/ttyS1).
	DataPort string `json:"data_port"`
	// Stdin says the host sends the job's stdin as TypeStdin frames on the
	// data port (its input side); otherwise stdin is /dev/null.
	Stdin bool `json:"stdin,omitempty"`
	// Outputs are guest paths sent back as TypeFile frames after the job
	// exits, before TypeExit: a regular file as it is, a directory as
	// every regular file below it that the job created or changed.
	Outputs []string `json:"outputs,omitempty"`
}

// Hello is the agent's first frame.
type Hello struct {
	Version int    `json:"version"`
	Release string `json:"release"` // uname -r
	Machine string `json:"machine"` // uname -m
	CPUs    int    `json:"cpus"`
	// Warnings lists set-up steps that failed without stopping the job
	// (for example a file system the kernel does not have).
	Warnings []string `json:"warnings,omitempty"`
}

// Exit is the agent's last frame.
type Exit struct {
	// Code is the job's exit status; -1 when it was killed by a signal or
	// never started.
	Code int `json:"code"`
	// Signal names the signal that killed the job, if any.
	Signal string `json:"signal,omitempty"`
	// Error is set when the agent could not run the job at all.
	Error string `json:"error,omitempty"`
}

// FilePayload is the payload of a TypeFile frame: the file's guest path,
// length-prefixed (uvarint), then the next chunk of its contents.
func FilePayload(name string, chunk []byte) []byte {
	b := binary.AppendUvarint(make([]byte, 0, len(name)+len(chunk)+4), uint64(len(name)))
	b = append(b, name...)
	return append(b, chunk...)
}

// ParseFilePayload splits a TypeFile payload into path and chunk.
func ParseFilePayload(p []byte) (name string, chunk []byte, err error) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n == 0 || n > uint64(len(p)-k) {
		return "", nil, fmt.Errorf("decode file frame: %w: bad name length", ErrCorrupt)
	}
	return string(p[k : k+int(n)]), p[k+int(n):], nil
}

// Frame is one decoded frame.
type Frame struct {
	Type    Type
	Payload []byte
}

// Writer writes frames. It is safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	w     io.Writer
	codec Codec
	buf   []byte
}

// NewWriter returns a Writer on w. Small payloads go out raw; larger ones are
// compressed with codec when that makes them smaller. A nil codec sends
// everything raw.
func NewWriter(w io.Writer, codec Codec) *Writer {
	return &Writer{w: w, codec: codec}
}

// minCompress is the payload size below which compression is not tried.
const minCompress = 256

// WriteFrame writes one frame holding payload.
func (w *Writer) WriteFrame(t Type, payload []byte) error {
	if len(payload) > MaxPayload {
		return fmt.Errorf("write %s frame: payload of %d bytes exceeds %d", t, len(payload), MaxPayload)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	flags := uint8(0)
	body := payload
	if w.codec != nil && len(payload) >= minCompress {
		c := w.codec.Encode(w.buf[:0], payload)
		w.buf = c[:0]
		if len(c) < len(payload) {
			flags, body = w.codec.Flag(), c
		}
	}
	var h [headerLen]byte
	copy(h[:4], magic[:])
	h[4], h[5], h[6] = Version, uint8(t), flags
	binary.BigEndian.PutUint32(h[7:11], uint32(len(body)))
	crc := crc32.NewIEEE()
	crc.Write(h[4:11])
	crc.Write(body)
	binary.BigEndian.PutUint32(h[11:15], crc.Sum32())
	if _, err := w.w.Write(h[:]); err != nil {
		return fmt.Errorf("write %s frame: %w", t, err)
	}
	if _, err := w.w.Write(body); err != nil {
		return fmt.Errorf("write %s frame: %w", t, err)
	}
	return nil
}

// WriteJSON writes v as a JSON frame.
func (w *Writer) WriteJSON(t Type, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("write %s frame: %w", t, err)
	}
	return w.WriteFrame(t, b)
}

// Reader reads frames.
type Reader struct {
	r      *bufio.Reader
	codecs map[uint8]Codec
}

// NewReader returns a Reader on r that accepts raw payloads and those of
// codecs.
func NewReader(r io.Reader, codecs ...Codec) *Reader {
	m := make(map[uint8]Codec, len(codecs))
	for _, c := range codecs {
		m[c.Flag()] = c
	}
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), codecs: m}
}

// Next returns the next frame. It returns io.EOF only when the stream ends
// cleanly between frames.
func (r *Reader) Next() (Frame, error) {
	var h [headerLen]byte
	n, err := io.ReadFull(r.r, h[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return Frame{}, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Frame{}, fmt.Errorf("read frame header: %w (%d of %d bytes)", ErrTruncated, n, headerLen)
	case err != nil:
		return Frame{}, fmt.Errorf("read frame header: %w", err)
	}
	if [4]byte(h[:4]) != magic {
		return Frame{}, fmt.Errorf("read frame header: %w: bad magic %q", ErrCorrupt, h[:4])
	}
	if h[4] != Version {
		return Frame{}, fmt.Errorf("read frame header: protocol version %d, want %d (host and agent binaries differ)", h[4], Version)
	}
	t, flags := Type(h[5]), h[6]
	size := binary.BigEndian.Uint32(h[7:11])
	if size > MaxPayload {
		return Frame{}, fmt.Errorf("read %s frame: %w: length %d exceeds %d", t, ErrCorrupt, size, MaxPayload)
	}
	body := make([]byte, size)
	if n, err := io.ReadFull(r.r, body); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fmt.Errorf("read %s frame: %w (%d of %d payload bytes)", t, ErrTruncated, n, size)
		}
		return Frame{}, fmt.Errorf("read %s frame: %w", t, err)
	}
	crc := crc32.NewIEEE()
	crc.Write(h[4:11])
	crc.Write(body)
	if crc.Sum32() != binary.BigEndian.Uint32(h[11:15]) {
		return Frame{}, fmt.Errorf("read %s frame: %w: checksum mismatch", t, ErrCorrupt)
	}
	if flags != 0 {
		c, ok := r.codecs[flags]
		if !ok {
			return Frame{}, fmt.Errorf("read %s frame: %w: unknown flags %#x", t, ErrCorrupt, flags)
		}
		if body, err = c.Decode(body, MaxPayload); err != nil {
			return Frame{}, fmt.Errorf("read %s frame: decompress: %w", t, err)
		}
		if len(body) > MaxPayload {
			return Frame{}, fmt.Errorf("read %s frame: %w: payload exceeds %d", t, ErrCorrupt, MaxPayload)
		}
	}
	return Frame{Type: t, Payload: body}, nil
}

// Decode unmarshals a JSON frame payload into v, rejecting unknown fields.
func (f Frame) Decode(v any) error {
	if err := strictUnmarshal(f.Payload, v); err != nil {
		return fmt.Errorf("decode %s frame: %w", f.Type, err)
	}
	return nil
}
