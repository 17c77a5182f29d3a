package fetch

import (
	"os"
	"syscall"
)

// identityOf takes device, inode and both times from the stat(2) result.
func identityOf(st os.FileInfo) fileIdentity {
	id := fileIdentity{Size: st.Size(), MtimeNS: st.ModTime().UnixNano()}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		id.Dev, id.Ino = uint64(s.Dev), s.Ino
		id.CtimeNS = s.Ctim.Nano()
	}
	return id
}
