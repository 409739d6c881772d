package lanbench

import (
	"os"
	"testing"
	"time"

	"spacenet/lan"
)

func TestZProf(t *testing.T) {
	if os.Getenv("SN_PROF") == "" {
		t.Skip()
	}
	if v := os.Getenv("SN_SPIN"); v != "" {
		spinFor, _ = time.ParseDuration(v)
	}
	tapQdisc = os.Getenv("SN_QDISC")
	e := &env{}
	defer e.close()
	s := lan.New(lan.Options{QueueDepth: 1024})
	defer s.Close()
	nss, err := e.ours(s, os.Getenv("SN_NOPASS") == "")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-t", "4"}
	if os.Getenv("SN_UDP") != "" {
		args = []string{"-u", "-b", "0", "-l", "22", "-t", "4"}
	}
	r, err := iperfOnce(nss[0], nss[1], 4*time.Second, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("TCP %.2f Gbit/s; UDP %d pkts lost %d", r.End.SumReceived.BitsPerSecond/1e9, r.End.Sum.Packets, r.End.Sum.LostPackets)
	for _, p := range s.Ports() {
		t.Logf("%s rx %d frames %d bytes (avg %d)", p.Name, p.RxFrames, p.RxBytes, p.RxBytes/max(1, p.RxFrames))
	}
}

func TestZBridge(t *testing.T) {
	if os.Getenv("SN_PROF") == "" {
		t.Skip()
	}
	k, err := Bridge(3 * time.Second)
	t.Logf("%+v %v", k, err)
}
