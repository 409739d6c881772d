//go:build !race

package switched

const raceEnabled = false
