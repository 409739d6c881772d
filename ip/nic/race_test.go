//go:build race

package nic

// raceEnabled reports whether the tests run under -race (allocation
// tests skip then).
const raceEnabled = true
