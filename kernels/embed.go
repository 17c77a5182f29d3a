// Package kernels holds the kernel catalog that is embedded into the bpfmatrix
// binary. The catalog is data; internal/catalog parses it.
package kernels

import "embed"

// Catalog is the raw catalog.json document.
//
//go:embed catalog.json
var Catalog []byte

// Configs holds the kconfig groups `bpfmatrix kernels build --config` applies
// (configs/<group>.config, and configs/<group>.<arch>.config where an
// architecture needs more): merge_config.sh fragments on top of tinyconfig.
//
//go:embed configs/*.config
var Configs embed.FS
