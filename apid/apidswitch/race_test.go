//go:build race

package apidswitch

const raceEnabled = true
