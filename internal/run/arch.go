package run

import "runtime"

func hostGOARCH() string { return runtime.GOARCH }
