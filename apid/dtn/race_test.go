//go:build race

package dtn

const raceEnabled = true
