package probe

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bpfmatrix/bpfmatrix/internal/features"
)

// TestEveryAttachTypeHasAMethod: attach types are data in internal/features
// and their probing method a map here; a row without a method would be
// probed by load (the zero value) without anyone choosing that.
func TestEveryAttachTypeHasAMethod(t *testing.T) {
	for _, s := range features.AttachTypes {
		_, ok := attachMethods[s.Name]
		assert.True(t, ok, "attach type %s has no probing method", s.Name)
	}
	assert.Len(t, attachMethods, len(features.AttachTypes), "a method for an attach type the table does not have")
}
