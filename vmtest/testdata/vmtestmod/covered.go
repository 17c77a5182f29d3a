// Package vmtestmod is a user's module that tests with vmtest: each test in
// cases_test.go is one behaviour vmtest's own tests select with -run and
// check from the host's go test -json events.
package vmtestmod

// Covered is only ever called inside a guest: coverage of it proves the
// guest's counters reached the host's profile.
func Covered(n int) int {
	if n > 1 {
		return n * Covered(n-1)
	}
	return 1
}
