package probe

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
)

// TablesDigest is the hex sha256 of every feature table this build carries
// (program, map, attach and link types, misc features, system state, helpers
// and their commits): versions, commits and config options decide which
// "no" is a finding, so a host that caches results keys them on it as well
// as on the agent binary that embeds the same tables.
var TablesDigest = sync.OnceValue(func() string {
	return tablesDigest(ProgramTypes, MapTypes, attachTypes, LinkTypes, MiscFeatures, SystemState, helpers, helperCommits)
})

// tablesDigest hashes tables by their Go syntax (%#v): every field,
// exported or not, and maps in sorted key order.
func tablesDigest(tables ...any) string {
	h := sha256.New()
	for _, t := range tables {
		fmt.Fprintf(h, "%#v\n", t)
	}
	return hex.EncodeToString(h.Sum(nil))
}
