// Command jobprog is the job the VM tests run inside the guest.
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	switch os.Args[1] {
	case "uname":
		var u syscall.Utsname
		_ = syscall.Uname(&u)
		var b []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		fmt.Println(string(b))
	case "output":
		// 9 MiB of log-like lines and 1 MiB of random bytes on stdout (the
		// random part catches any newline translation), and a short
		// stderr; the sha256 of stdout goes last to stderr.
		h := sha256.New()
		out := func(b []byte) { os.Stdout.Write(b); h.Write(b) }
		var buf []byte
		for i := 0; i < 9<<20; {
			line := fmt.Appendf(nil, "line %d: verifier log and test output\n", i)
			buf = append(buf, line...)
			i += len(line)
			if len(buf) > 64<<10 {
				out(buf)
				buf = buf[:0]
			}
		}
		out(buf)
		rnd := make([]byte, 1<<20)
		rand.New(rand.NewSource(1)).Read(rnd)
		out(rnd)
		fmt.Fprintf(os.Stderr, "stderr line\nsha256 %x\n", h.Sum(nil))
	case "sleep":
		time.Sleep(time.Hour)
	case "sleep-after-hello":
		fmt.Println("running")
		time.Sleep(time.Hour)
	case "panic":
		os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0)
		time.Sleep(time.Minute)
	case "cat":
		// stdin to stdout, then how many bytes on stderr.
		n, err := io.Copy(os.Stdout, os.Stdin)
		fmt.Fprintf(os.Stderr, "read %d bytes, %v\n", n, err)
	case "true":
	}
	if len(os.Args) > 2 {
		code, _ := strconv.Atoi(os.Args[2])
		os.Exit(code)
	}
}
