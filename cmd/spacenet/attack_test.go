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
// p99 under attack stays within attackP99Factor of their reference, and the
// switch's memory stays under its bound. Every attack is bounded in frames
// and time.
//
// The reference is the larger of two p99s measured in the same test: the
// victims alone (the baseline), and the victims while the same attacker
// attacks a twin switch, a second process of the same binary that the
// victims do not use (the floor). On this machine's 2 cores the attacker
// alone (a writer and a reader thread flat out) and the switch's work on its
// frames take the CPU the victims need: the floor measures what that costs
// them, whatever switch it is. The p99 under attack is then bounded by what
// attacking the victims' own switch adds: shared locks, queues, unfair
// scheduling (a switch defect), not the machine. Measured on 2 cores: the
// floor's p99 is 2-20x the baseline's depending on the attack and on the
// machine's other load; see docs/threat-model.md.

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
	pingTimeout = 10 * time.Second
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

// victims measures the ping-pong of one pair of victims.
type victims struct {
	launcher       switchbench.Launcher
	target         switchbench.Target
	pinger, echoer string
}

func (v victims) pingPong() (benchstat.Latency, error) {
	return switchbench.PingPongRoles(v.launcher, v.target, attackPings, v.pinger, v.echoer, pingTimeout)
}

// attackResult is what one case measured: medians over the rounds.
type attackResult struct {
	base     benchstat.Latency // the victims alone
	floor    benchstat.Latency // the same attack on the twin switch
	attacked benchstat.Latency // the attack on the victims' switch
	attacker switchbench.Result
}

// measureWith runs the victims' ping-pong while role a runs (started before,
// stopped after), and returns their latency and a's Result. A victim's
// frame lost or refused fails the test.
func measureWith(t *testing.T, l switchbench.Launcher, v victims, a switchbench.RoleArgs) (benchstat.Latency, switchbench.Result) {
	t.Helper()
	r, err := switchbench.StartRole(l, a)
	if err != nil {
		t.Fatalf("%s: %v", a.Role, err)
	}
	lat, err := v.pingPong()
	res, rerr := r.Stop()
	if err != nil {
		t.Fatalf("victims with %s running: a frame lost or refused: %v", a.Role, err)
	}
	if rerr != nil {
		t.Fatalf("%s: %v", a.Role, rerr)
	}
	return lat, res
}

// runAttack measures v's ping-pong attackRounds times in three settings,
// one after the other in each round: alone (the baseline), with twin (the
// attack aimed at the twin switch: the floor), and with attack.
func runAttack(t *testing.T, l switchbench.Launcher, v victims, attack, twin switchbench.RoleArgs) attackResult {
	t.Helper()
	var base, floor, attacked []benchstat.Latency
	var res attackResult
	for round := range attackRounds {
		lat, err := v.pingPong()
		if err != nil {
			t.Fatalf("baseline round %d: %v", round, err)
		}
		base = append(base, lat)
		lat, _ = measureWith(t, l, v, twin)
		floor = append(floor, lat)
		lat, r := measureWith(t, l, v, attack)
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
	res.base, res.floor, res.attacked = benchstat.MedianLatency(base), benchstat.MedianLatency(floor), benchstat.MedianLatency(attacked)
	return res
}

// checkAttack applies the suite's bounds to what a case measured: the
// victims' p99 under attack at most attackP99Factor times the larger of
// their baseline and the floor.
func checkAttack(t *testing.T, name string, r attackResult) {
	t.Helper()
	ref := max(r.base.P99, r.floor.P99)
	rate := float64(r.attacker.Frames) / max(r.attacker.Elapsed.Seconds(), 1e-9)
	t.Logf("%s: p50/p99 baseline %v/%v, floor %v/%v, attacked %v/%v (%.2fx the reference %v); attacker wrote %d in %v (%.0f/s), answers %v",
		name, r.base.P50, r.base.P99, r.floor.P50, r.floor.P99, r.attacked.P50, r.attacked.P99, float64(r.attacked.P99)/float64(ref), ref,
		r.attacker.Frames, r.attacker.Elapsed.Round(time.Millisecond), rate, r.attacker.Errors)
	if r.attacker.Frames == 0 {
		t.Errorf("%s: the attacker wrote nothing", name)
	}
	if limit := time.Duration(attackP99Factor * float64(ref)); r.attacked.P99 > limit {
		t.Errorf("%s: victims' p99 %v under attack, over %.1fx the larger of their baseline %v and the floor %v", name, r.attacked.P99, attackP99Factor, r.base.P99, r.floor.P99)
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
	dl, twinDL := freeUDP(t), freeUDP(t)
	p := startRun(t, 3, "--downlink-listen", "udp://"+dl)
	p.drainLog()
	twin := startRun(t, 3, "--downlink-listen", "udp://"+twinDL)
	twin.drainLog()
	pid := p.cmd.Process.Pid
	l := roleLauncher(t)
	v := victims{launcher: l, pinger: "ping", echoer: "echo",
		target: switchbench.Target{Sender: p.sock("camera"), Receiver: p.sock("processor"), Src: 0x010, Dst: 0x020}}
	// The twin's processor reads (and answers nothing), as the victims'
	// echo does, so that the valid flood costs the twin what it costs p.
	twinSink, err := switchbench.StartRole(l, switchbench.RoleArgs{Role: "echo", Socket: twin.sock("processor"), Frames: 1, Src: 0x020, Dst: 0x7FF, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer twinSink.Kill()
	cases := []struct {
		name     string
		attacker func(sw *switchProc, downlink string) switchbench.RoleArgs
	}{
		{"malformed", spaceos("malformed", 64)},
		{"system", spaceos("system", 64)},
		{"valid", spaceos("valid", 64)},
		{"churn", spaceos("churn", 1)},
		{"ground", func(_ *switchProc, downlink string) switchbench.RoleArgs {
			return switchbench.RoleArgs{Role: "ground", Socket: downlink, Frames: attackFrames, For: attackFor, Batch: 64, Src: 0x7F0, Dst: 0x020}
		}},
	}
	rss0, hwm0 := memKB(t, pid)
	t.Logf("switch memory at start: VmRSS %d kB, VmHWM %d kB", rss0, hwm0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runAttack(t, l, v, c.attacker(p, dl), c.attacker(twin, twinDL))
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

// spaceos returns the attack role played by spaceos against sw's processor
// (0x020), batch frames per write.
func spaceos(role string, batch int) func(*switchProc, string) switchbench.RoleArgs {
	return func(sw *switchProc, _ string) switchbench.RoleArgs {
		return switchbench.RoleArgs{Role: role, Socket: sw.sock("spaceos"), Frames: attackFrames, For: attackFor, Batch: batch, Src: 0x100, Dst: 0x020}
	}
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
	p, twin := startLAN(t), startLAN(t)
	pid := p.cmd.Process.Pid
	l := roleLauncher(t)
	v := victims{launcher: l, pinger: "lanping", echoer: "lanecho",
		target: switchbench.Target{Sender: p.sock("processor"), Receiver: p.sock("spaceos"), Src: 0x020, Dst: 0x030}}
	storm := func(lp *lanProc) switchbench.RoleArgs {
		return switchbench.RoleArgs{Role: "lanstorm", Socket: lp.sock("camera"), Frames: attackFrames, For: attackFor, Batch: 64, Src: 0x010}
	}
	r := runAttack(t, l, v, storm(p), storm(twin))
	checkAttack(t, "storm", r)
	rss, hwm := memKB(t, pid)
	t.Logf("LAN memory after the storm: VmRSS %d kB, VmHWM %d kB", rss, hwm)
	if hwm > switchMemLimit {
		t.Errorf("LAN VmHWM %d kB over %d kB", hwm, switchMemLimit)
	}
}
