//go:build !linux

package fetch

import "os"

// identityOf uses size and mtime only: stat(2)'s layout differs across the
// other systems, and bpfmatrix boots its VMs on Linux.
func identityOf(st os.FileInfo) fileIdentity {
	return fileIdentity{Size: st.Size(), MtimeNS: st.ModTime().UnixNano()}
}
