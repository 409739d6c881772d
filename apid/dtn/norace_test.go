//go:build !race

package dtn

const raceEnabled = false
