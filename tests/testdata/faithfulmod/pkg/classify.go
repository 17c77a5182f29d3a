// Package pkg is the code whose coverage TestGoTestExecFaithful compares
// between a host run and a guest run of the same tests.
package pkg

// Classify names the sign of n.
func Classify(n int) string {
	switch {
	case n < 0:
		return "negative"
	case n == 0:
		return "zero"
	}
	return "positive"
}

// Unused is never called: its block stays uncovered in both runs.
func Unused() int { return 42 }
