package linkwait

// SetTestHookListed sets the function Wait calls once it has listed the
// links, and returns the function that removes it.
func SetTestHookListed(f func()) (reset func()) {
	testHookListed = f
	return func() { testHookListed = nil }
}
