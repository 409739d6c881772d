package netstack

import (
	"os"
	"testing"

	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/refs"
)

func TestMain(m *testing.M) {
	// gVisor's leak checker: every PacketBuffer (and other ref-counted
	// object) must be released; leaks panic at the final check.
	refs.SetLeakMode(refs.LeaksPanic)
	if len(os.Args) > 1 && isHelper() {
		os.Exit(m.Run())
	}
	code := m.Run()
	refs.DoLeakCheck()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

func isHelper() bool { return os.Getenv("NETSTACK_HELPER") != "" }
