// Package gotest is run by TestGoTestExec through `go test -exec`.
package gotest

import (
	"os"
	"testing"
)

func TestReadsTestdata(t *testing.T) {
	b, err := os.ReadFile("testdata/greeting.txt")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "hello from testdata\n" {
		t.Fatalf("got %q", b)
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Fatal(err)
	}
}

func TestFails(t *testing.T) {
	t.Fatal("this test fails on purpose")
}
