package dtn

import (
	"bytes"
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"spacenet/internal/dtntest"
)

// TestAgentLoopback: registered with a real dtnd, a bundle sent to our own
// endpoint comes back through the web agent, payload byte-exact.
func TestAgentLoopback(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreCurrent()) }) // after dtnd is stopped
	n := dtntest.Start(t, dtntest.Options{NodeID: "dtn://loop/"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, err := Dial(ctx, n.Agent, "dtn://loop/spacenet")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	payload := make([]byte, 9000) // more than one WebSocket frame of dtnd's
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	b := Bundle{Destination: "dtn://loop/spacenet", Source: "dtn://loop/spacenet", ReportTo: "dtn://loop/spacenet",
		Created: DTNTime(time.Now()), Seq: 1, Lifetime: 60000, Payload: payload}
	if err := a.Send(&b); err != nil {
		t.Fatal(err)
	}
	m, err := a.Receive()
	if err != nil {
		t.Fatalf("receive: %v\n%s", err, n.Output())
	}
	if m.Kind != msgBundle || m.Bundle.Source != b.Source || m.Bundle.Created != b.Created || m.Bundle.Seq != 0 || // dtnd numbers bundles itself (link.go, take)

		m.Bundle.Lifetime != 60000 || !bytes.Equal(m.Bundle.Payload, payload) {
		t.Fatalf("got kind %d bundle %+v (payload %d bytes)", m.Kind, m.Bundle.ID(), len(m.Bundle.Payload))
	}
}
