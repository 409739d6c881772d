package switchbench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/policy"
)

// roleEnv, when set, makes the test binary play a role (its value: the
// role's flags, separated by the unit separator 0x1F) instead of running tests: the guests of
// these tests are separate processes.
const roleEnv = "SWITCHBENCH_ROLE"

func TestMain(m *testing.M) {
	if args := os.Getenv(roleEnv); args != "" {
		if err := RunRole(strings.Split(args, "\x1f"), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// selfLauncher starts this test binary in a role.
func selfLauncher(args []string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+strings.Join(args, "\x1f"))
	return cmd
}

// startSwitch runs a switch in dir with policy p until the test ends.
func startSwitch(t *testing.T, p *policy.Policy, queueLen int) *apidswitch.Switch {
	t.Helper()
	sw, stop, err := Start(context.Background(), apidswitch.Config{Policy: p, QueueLen: queueLen,
		SocketDir: filepath.Join(t.TempDir(), "s"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return sw
}
