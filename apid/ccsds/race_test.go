//go:build race

package ccsds

const raceEnabled = true
