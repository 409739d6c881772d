package lan

import "time"

// Clock tells the time to the MAC table (ageing) and the pcap writer. Tests
// inject a fake one.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the Clock of the running system.
var SystemClock Clock = systemClock{}
