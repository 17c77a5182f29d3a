// Package nomain forgets vmtest.Main.
package nomain

import (
	"os"
	"testing"

	"github.com/bpfmatrix/bpfmatrix/vmtest"
)

func TestForgotMain(t *testing.T) {
	vmtest.Run(t, []string{"debian-6.1"}, func(t *testing.T) {
		_ = os.WriteFile(os.Getenv("VMTESTMOD_HOST_FILE"), []byte("ran"), 0o644)
	})
}
