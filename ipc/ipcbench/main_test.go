package ipcbench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"spacenet/apid/apidswitch"
	"spacenet/apid/policy"
)

// peerEnv, when set, makes the test binary a peer process of the harness:
// the role and its arguments follow "--" in its arguments.
const peerEnv = "IPCBENCH_TEST_PEER"

func TestMain(m *testing.M) {
	if os.Getenv(peerEnv) != "" {
		os.Exit(runTestPeer(os.Args[len(os.Args)-countArgs():]))
	}
	goleak.VerifyTestMain(m)
}

// countArgs is the number of arguments after "--".
func countArgs() int {
	for i, a := range os.Args {
		if a == "--" {
			return len(os.Args) - i - 1
		}
	}
	return 0
}

func runTestPeer(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "no role")
		return 2
	}
	var err error
	if args[0] == "switch" {
		err = testSwitch(args[1], args[2])
	} else {
		err = Peer(context.Background(), args[0], args[1:], os.Stdin, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// testSwitch stands in for `spacenet run` in the test binary: the switch
// in its own process, logging each tenant socket when ready, stopped by
// SIGTERM.
func testSwitch(socketDir, policyFile string) error {
	pol, err := policy.Load(policyFile)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sw, err := apidswitch.New(apidswitch.Config{Policy: pol, SocketDir: socketDir, Logger: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	select {
	case <-sw.Ready():
		for _, t := range sw.Tenants() {
			log.Info("tenant socket", "tenant", t.Name, "path", t.Socket)
		}
	case err := <-done:
		return err
	}
	return <-done
}

// testCommand re-executes the test binary as a peer.
func testCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), peerEnv+"=1")
	return cmd
}
