// Package wire is the host <-> guest protocol of bpfmatrix.
//
// Host to guest, the job travels in the initramfs: [JobPath] holds a JSON
// [Job] naming the program, its arguments, environment and working directory,
// all of which the host packed into the same archive.
//
// Guest to host, the agent writes frames to a dedicated serial port (ttyS1 on
// x86_64, where the kernel console stays on ttyS0; a PCI 16550 that the
// guest sees as ttyS0 on arm64, where the console is ttyAMA0). A frame is
//
//	magic "BPFM" | version u8 | type u8 | flags u8 | length u32 BE | crc32 u32 BE | payload
//
// The CRC (IEEE) covers version, type, flags, length and the payload as sent.
// With [FlagZstd] set the payload is a zstd frame: the 8250 UART moves about
// 1.1 MB/s under QEMU TCG (one host write(2) per byte), and the JSON our
// probes print compresses roughly 30:1, so compression is what makes
// megabytes of output cheap. Incompressible chunks go out raw.
//
// The guest sends one [TypeHello] first, then any number of [TypeStdout] and
// [TypeStderr] chunks in the order the job produced them (per stream), then
// the job's output files ([Job].Outputs) as [TypeFile] frames, and one
// [TypeExit] last. [Reader.Next] returns io.EOF only at a frame boundary;
// a stream that ends inside a frame is [ErrTruncated], a corrupt frame is
// [ErrCorrupt]. Callers must treat a stream without a TypeExit frame as a
// failure: a missing result is never an empty success.
//
// Host to guest at run time, only when [Job].Stdin is set: the same port's
// input side carries [TypeStdin] frames with the job's standard input, and
// an empty TypeStdin frame is its end of file (a serial line has no EOF).
// The host starts sending after the hello, when the agent has the port open
// in raw mode: the 8250 driver empties its FIFO when the port is opened, so
// earlier bytes would be lost.
package wire
