package tests

import "testing"

func TestObserveExplore(t *testing.T) {
	observeIn(t, "debian-6.1", "--burst", "100000")
}
