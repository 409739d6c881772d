//go:build race

package ipc

// raceEnabled: the race detector makes sync.Pool drop objects at random, so
// allocation counts through pools mean nothing.
const raceEnabled = true
