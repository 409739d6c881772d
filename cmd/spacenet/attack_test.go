package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"spacenet/apidswitch/switchbench"
	"spacenet/internal/benchstat"
)

// The attack suite (issue 14): the built binary's switch (`spacenet run`,
// `spacenet lan run`) as one process, every attacker and every victim a
// process of its own (`spacenet bench role`), over unix sockets and
// loopback UDP only. Per case: the victims lose nothing, their ping-pong
// p99 under attack stays within attackP99Factor of what they measured
// without the attacker in the same test, and the switch's memory stays
// under its bound. Every attack is bounded in frames and time.

const (
	// attackPings is the round trips per ping-pong round.
	attackPings = 1000
	// attackRounds is how many rounds of baseline and of attack are
	// measured, alternating; the medians of their p99s are compared.
	attackRounds = 3
	// attackP99Factor is the bound on the victims' p99 under attack,
	// relative to their baseline.
	attackP99Factor = 2.0
	// attackFrames and attackFor bound every attack: it stops at the first
	// of these, or when the victims' round ends.
	attackFrames = 20_000_000
	attackFor    = 15 * time.Second
	// pingTimeout: a victim's frame not answered within it counts as lost
	// (the round fails at once instead of waiting for the role's default).
	pingTimeout = 2 * time.Second
	// switchMemLimit bounds the switch process's peak resident memory
	// (VmHWM) over the whole suite, in kB. Issue 14 measured under 40 MB
	// for the black-box attacks; the queues are bounded (3 tenants x 1024
	// frames x 256 bytes), so the attacks must not raise it.
	switchMemLimit = 64 << 10
)

// roleLauncher starts the built binary in a role (`spacenet bench role`).
func roleLauncher(t *testing.T) switchbench.Launcher {
	bin := spacenetBinary(t)
	return func(args []string) *exec.Cmd {
		return exec.Command(bin, append([]string{"bench", "role"}, args...)...)
	}
}

// memKB returns the VmRSS and VmHWM of process pid, in kB.
func memKB(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	if rss == 0 || hwm == 0 {
		t.Fatalf("no VmRSS/VmHWM in /proc/%d/status", pid)
	}
	return rss, hwm
}

// attackCase is one attacker, and how the victims ping.
type attackCase struct {
	name     string
	attacker switchbench.RoleArgs
}

// victims measures the ping-pong of one pair of victims.
type victims struct {
	launcher       switchbench.Launcher
	target         switchbench.Target
	pinger, echoer string
}

func (v victims) pingPong() (benchstat.Latency, error) {
	return switchbench.PingPongRoles(v.launcher, v.target, attackPings, v.pinger, v.echoer, pingTimeout)
}

// attackResult is what one case measured.
type attackResult struct {
	base, attacked benchstat.Latency // medians over the rounds
	attacker       switchbench.Result
}

// runAttack measures v's ping-pong attackRounds times without an attacker
// and attackRounds times with attacker a running (started before the round,
// stopped after it), alternating; a round that fails (a victim's frame lost
// or refused) fails the test.
func runAttack(t *testing.T, l switchbench.Launcher, v victims, a switchbench.RoleArgs) attackResult {
	t.Helper()
	var base, attacked []benchstat.Latency
	var res attackResult
	for round := range attackRounds {
		lat, err := v.pingPong()
		if err != nil {
			t.Fatalf("baseline round %d: %v", round, err)
		}
		base = append(base, lat)
		att, err := switchbench.StartRole(l, a)
		if err != nil {
			t.Fatalf("attacker: %v", err)
		}
		lat, err = v.pingPong()
		r, aerr := att.Stop()
		if err != nil {
			t.Fatalf("round %d under attack: the victims lost a frame: %v", round, err)
		}
		if aerr != nil {
			t.Fatalf("attacker: %v", aerr)
		}
		attacked = append(attacked, lat)
		res.attacker.Frames += r.Frames
		res.attacker.Elapsed += r.Elapsed
		if res.attacker.Errors == nil {
			res.attacker.Errors = map[string]int{}
		}
		for k, n := range r.Errors {
			res.attacker.Errors[k] += n
		}
	}
	res.base, res.attacked = benchstat.MedianLatency(base), benchstat.MedianLatency(attacked)
	return res
}

// checkAttack applies the suite's bounds to what a case measured.
func checkAttack(t *testing.T, name string, r attackResult) {
	t.Helper()
	rate := float64(r.attacker.Frames) / max(r.attacker.Elapsed.Seconds(), 1e-9)
	t.Logf("%s: baseline p50 %v p99 %v; attacked p50 %v p99 %v (%.2fx); attacker wrote %d in %v (%.0f/s), answers %v",
		name, r.base.P50, r.base.P99, r.attacked.P50, r.attacked.P99, float64(r.attacked.P99)/float64(r.base.P99),
		r.attacker.Frames, r.attacker.Elapsed.Round(time.Millisecond), rate, r.attacker.Errors)
	if r.attacker.Frames == 0 {
		t.Errorf("%s: the attacker wrote nothing", name)
	}
	if limit := time.Duration(attackP99Factor * float64(r.base.P99)); r.attacked.P99 > limit {
		t.Errorf("%s: victims' p99 %v under attack, over %.1fx their baseline %v", name, r.attacked.P99, attackP99Factor, r.base.P99)
	}
}

// freeUDP returns a loopback UDP address nobody listens on (bind, note,
// release).
func freeUDP(t *testing.T) string {
	t.Helper()
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	return probe.LocalAddr().String()
}

// drainLog reads the switch's log from now on, so that its stderr never
// fills (a stuck stderr is an attack of its own: logstuck_test.go).
func (p *switchProc) drainLog() {
	go func() {
		for range p.lines {
		}
	}()
}

// TestAttackSwitch: `spacenet run` (with --downlink-listen), camera and
// processor the victims (camera pings, processor echoes), spaceos or the
// ground the attacker:
//
//   - malformed: spaceos floods frames with bad version, type, length,
//     APIDs, or random bytes (64 per write);
//   - system: spaceos floods HEALTH and unknown frames to 0x001-0x00F;
//   - valid: spaceos floods well-formed frames to the processor, the
//     victims' own destination;
//   - churn: spaceos connects and disconnects as fast as it can;
//   - ground: datagrams to the downlink forging sources (a tenant's,
//     0x000, 0x002), malformed, and valid ones to the processor, flat out.
//
// Each: no victim frame lost or refused (every ping answered within
// pingTimeout, and camera and processor have DROPPED 0 in the switch's
// table at the end); victims' p99 within attackP99Factor of their
// baseline; the switch's VmHWM under switchMemLimit.
func TestAttackSwitch(t *testing.T) {
	dl := freeUDP(t)
	p := startRun(t, 3, "--downlink-listen", "udp://"+dl)
	p.drainLog()
	pid := p.cmd.Process.Pid
	l := roleLauncher(t)
	v := victims{launcher: l, pinger: "ping", echoer: "echo",
		target: switchbench.Target{Sender: p.sock("camera"), Receiver: p.sock("processor"), Src: 0x010, Dst: 0x020}}
	spaceos := func(role string, batch int) switchbench.RoleArgs {
		return switchbench.RoleArgs{Role: role, Socket: p.sock("spaceos"), Frames: attackFrames, For: attackFor, Batch: batch, Src: 0x100, Dst: 0x020}
	}
	cases := []attackCase{
		{"malformed", spaceos("malformed", 64)},
		{"system", spaceos("system", 64)},
		{"valid", spaceos("valid", 64)},
		{"churn", spaceos("churn", 1)},
		{"ground", switchbench.RoleArgs{Role: "ground", Socket: dl, Frames: attackFrames, For: attackFor, Batch: 64, Src: 0x7F0, Dst: 0x020}},
	}
	rss0, hwm0 := memKB(t, pid)
	t.Logf("switch memory at start: VmRSS %d kB, VmHWM %d kB", rss0, hwm0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runAttack(t, l, v, c.attacker)
			checkAttack(t, c.name, r)
			rss, hwm := memKB(t, pid)
			t.Logf("switch memory after %s: VmRSS %d kB, VmHWM %d kB", c.name, rss, hwm)
			if hwm > switchMemLimit {
				t.Errorf("switch VmHWM %d kB over %d kB", hwm, switchMemLimit)
			}
		})
	}
	table := p.stop(syscall.SIGINT)
	for _, victim := range []string{"camera", "processor"} {
		if d, ok := droppedOf(table, victim); !ok || d != 0 {
			t.Errorf("%s DROPPED %d (found %v) in\n%s", victim, d, ok, table)
		}
	}
	t.Logf("the switch's table:\n%s", table)
}

// droppedOf returns the DROPPED column of tenant's row in the table
// `spacenet run` prints at stop.
func droppedOf(table, tenant string) (int, bool) {
	sc := bufio.NewScanner(strings.NewReader(table))
	col := -1
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if f[0] == "TENANT" {
			for i, h := range f {
				if h == "DROPPED" {
					col = i
				}
			}
			continue
		}
		if f[0] == tenant && col >= 0 && col < len(f) {
			n, err := strconv.Atoi(f[col])
			return n, err == nil
		}
	}
	return 0, false
}

// lanProc is `spacenet lan run` as a child process.
type lanProc struct {
	cmd *exec.Cmd
	dir string
}

// startLAN starts `spacenet lan run --dir DIR` (the default configuration:
// one qemu-stream port per v0 tenant) and returns once its sockets exist.
func startLAN(t *testing.T) *lanProc {
	t.Helper()
	base, err := os.MkdirTemp("", "snlan")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	p := &lanProc{dir: filepath.Join(base, "lan")}
	p.cmd = exec.Command(spacenetBinary(t), "lan", "run", "--dir", p.dir)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	running := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), "lan: running") {
				seen = true
				running <- true
			}
		}
		if !seen {
			running <- false
		}
	}()
	select {
	case ok := <-running:
		if !ok {
			t.Fatal("lan run exited before running")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("lan run: no \"lan: running\" line")
	}
	return p
}

func (p *lanProc) sock(name string) string { return filepath.Join(p.dir, name+".sock") }

// TestAttackLANStorm: `spacenet lan run` (default configuration), the
// camera port's guest sends broadcast frames flat out while processor and
// spaceos ping-pong unicast frames: none of theirs lost, their p99 within
// attackP99Factor of the baseline, the LAN's VmHWM under switchMemLimit.
// (Storm control passes 1000 broadcasts a second to the victims; they read
// and skip them.)
func TestAttackLANStorm(t *testing.T) {
	p := startLAN(t)
	pid := p.cmd.Process.Pid
	l := roleLauncher(t)
	v := victims{launcher: l, pinger: "lanping", echoer: "lanecho",
		target: switchbench.Target{Sender: p.sock("processor"), Receiver: p.sock("spaceos"), Src: 0x020, Dst: 0x030}}
	storm := switchbench.RoleArgs{Role: "lanstorm", Socket: p.sock("camera"), Frames: attackFrames, For: attackFor, Batch: 64, Src: 0x010}
	r := runAttack(t, l, v, storm)
	checkAttack(t, "storm", r)
	rss, hwm := memKB(t, pid)
	t.Logf("LAN memory after the storm: VmRSS %d kB, VmHWM %d kB", rss, hwm)
	if hwm > switchMemLimit {
		t.Errorf("LAN VmHWM %d kB over %d kB", hwm, switchMemLimit)
	}
}
