// Package kernels holds the kernel catalog that is embedded into the bpfmatrix
// binary. The catalog is data; internal/catalog parses it.
package kernels

import _ "embed"

// Catalog is the raw catalog.json document.
//
//go:embed catalog.json
var Catalog []byte
