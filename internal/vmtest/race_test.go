//go:build race

package vmtest_test

const raceEnabled = true
