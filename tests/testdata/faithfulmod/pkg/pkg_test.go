package pkg

import (
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	for n, want := range map[int]string{-1: "negative", 0: "zero"} {
		if got := Classify(n); got != want {
			t.Errorf("Classify(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestReadsParentTestdata opens the module's testdata from a package
// directory, as BPF libraries' tests open ../testdata/*.elf.
func TestReadsParentTestdata(t *testing.T) {
	b, err := os.ReadFile("../testdata/shared.txt")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "shared by the packages of faithfulmod\n" {
		t.Fatalf("../testdata/shared.txt = %q", b)
	}
}

func TestLoopback(t *testing.T) {
	for _, c := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		l, err := net.Listen(c.network, c.addr)
		if err != nil {
			t.Fatalf("listen %s: %v", c.addr, err)
		}
		go func() {
			conn, err := l.Accept()
			if err == nil {
				conn.Write([]byte("pong " + c.network))
				conn.Close()
			}
		}()
		conn, err := net.Dial(c.network, l.Addr().String())
		if err != nil {
			t.Fatalf("dial %s: %v", l.Addr(), err)
		}
		b, err := io.ReadAll(conn)
		conn.Close()
		l.Close()
		if err != nil || string(b) != "pong "+c.network {
			t.Fatalf("read from %s: %q, %v", l.Addr(), b, err)
		}
	}
}

// TestShell runs a shell command, and sees the host's environment through it.
func TestShell(t *testing.T) {
	out, err := exec.Command("sh", "-c", `echo "shell sees $FAITHFUL_VAR"`).CombinedOutput()
	if err != nil {
		t.Fatalf("sh -c: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "shell sees from-host" {
		t.Fatalf("sh -c printed %q", got)
	}
}

func TestHostEnv(t *testing.T) {
	if got := os.Getenv("FAITHFUL_VAR"); got != "from-host" {
		t.Fatalf("FAITHFUL_VAR = %q, want from-host", got)
	}
}

// TestWritesWorkdir leaves a file in the package directory naming where it
// ran: the caller checks it came back to the host.
func TestWritesWorkdir(t *testing.T) {
	where := os.Getenv("BPFMATRIX_KERNEL")
	if where == "" {
		where = "host"
	}
	if err := os.WriteFile("written-by-test.txt", []byte("written on "+where+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
