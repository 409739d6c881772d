package main

import "testing"

// TestBinaryBenchDTNNotBuilt: without dtnd, `bench dtn` says so and where
// to get it, and exits 1 before starting anything.
func TestBinaryBenchDTNNotBuilt(t *testing.T) {
	env := []string{"HOME=" + t.TempDir(), "SPACENET_DTND=", "SPACENET_DTND_DIR=", "PATH=" + t.TempDir()}
	out, code := spacenet(t, env, "bench", "dtn", "--runs", "1")
	want := "spacenet: bench dtn: dtnd not built: run scripts/deps.sh (or scripts/dtnd.sh) (it builds ~/.cache/spacenet-dtnd/dtnd; or give --dtnd PATH or $SPACENET_DTND)\n"
	if code != exitFailure || out != want {
		t.Errorf("status %d, output:\n%s\nwant status %d, output:\n%s", code, out, exitFailure, want)
	}
}
