package gen_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"

	"spacenet/ipc"
	"spacenet/ipc/idol/gen/internal/corpus/api"
	"spacenet/ipc/idol/gen/internal/corpus/controlplaneagent"
	"spacenet/ipc/idol/gen/internal/corpus/cpuseq"
	"spacenet/ipc/idol/gen/internal/corpus/hf"
	"spacenet/ipc/idol/gen/internal/corpus/jefe"
	"spacenet/ipc/idol/gen/internal/corpus/lpc55update"
	"spacenet/ipc/idol/gen/internal/corpus/net"
	"spacenet/ipc/idol/gen/internal/corpus/packrat"
	"spacenet/ipc/idol/gen/internal/corpus/sensor"
	"spacenet/ipc/idol/gen/internal/corpus/userleds"
)

// recorder is a Transport that keeps the last request and answers with a
// canned reply, so tests compare exact bytes in both directions.
type recorder struct {
	req   ipc.Request
	reply ipc.Reply
	calls int
}

func (r *recorder) Call(ctx context.Context, req *ipc.Request, reply *ipc.Reply) error {
	r.calls++
	r.req = *req
	r.req.Args = append([]byte(nil), req.Args...)
	r.req.Leases = append([]ipc.Lease(nil), req.Leases...) // the client reuses req after Call
	reply.RC = r.reply.RC
	reply.Body = append(reply.Body[:0], r.reply.Body...)
	reply.Written = r.reply.Written
	return nil
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func le64(v uint64) []byte { return append(le32(uint32(v)), le32(uint32(v>>32))...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func check(t *testing.T, what string, err error, got, want []byte) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got % x, want % x", what, got, want)
	}
}

// Zerocopy: packed little-endian, usize 32-bit, bool one byte read as non-zero.
func TestZerocopyWire(t *testing.T) {
	ctx := context.Background()
	r := &recorder{}

	leds := userleds.NewUserLedsClient(r)
	check(t, "usize is 4 bytes", leds.LedOn(ctx, 7), r.req.Args, []byte{7, 0, 0, 0})
	if r.req.Op != userleds.UserLedsOpLedOn || userleds.UserLedsIncomingSize != 4 {
		t.Fatalf("op %d incoming %d", r.req.Op, userleds.UserLedsIncomingSize)
	}

	idol := api.NewIdolTestClient(r)
	r.reply = ipc.Reply{Body: []byte{9, 0, 0, 0}}
	v, err := idol.MaybeIncrement(ctx, 0x01020304, true)
	check(t, "usize then bool, packed", err, r.req.Args, []byte{4, 3, 2, 1, 1})
	if v != 9 {
		t.Fatalf("reply %d", v)
	}
	r.reply = ipc.Reply{Body: []byte{0x02}}
	if b, err := idol.BoolNot(ctx, false); err != nil || !b {
		t.Fatalf("Zerocopy bool 0x02 reads as %v, %v; want true", b, err)
	}
	// A CLike error is the RC.
	r.reply = ipc.Reply{RC: 2}
	if _, err := idol.BoolNot(ctx, false); err != api.IdolTestErrorYouAskedForThis {
		t.Fatalf("RC 2 = %v", err)
	}

	// Arrays inline: [u8; 32], then u64, then u8 = 41 bytes.
	cpa := controlplaneagent.NewControlPlaneAgentClient(r)
	var hash [32]uint8
	for i := range hash {
		hash[i] = uint8(i)
	}
	r.reply = ipc.Reply{}
	err = cpa.FetchHostPhase2Data(ctx, hash, 0x1122334455667788, 5)
	check(t, "array, u64, u8", err, r.req.Args, cat(hash[:], le64(0x1122334455667788), []byte{5}))
	if controlplaneagent.ControlPlaneAgentFetchHostPhase2DataArgsSize != 41 {
		t.Fatal("args size")
	}

	// u128 little-endian, low half first.
	pr := packrat.NewPackratClient(r)
	err = pr.SetRestartId(ctx, ipc.U128{Lo: 1, Hi: 2})
	check(t, "u128", err, r.req.Args, cat(le64(1), le64(2)))

	// FromPrimitive("u8"): the enum's discriminant (PowerState::A0 = 3), and
	// a reply enum checked against its variants.
	seq := cpuseq.NewSequencerClient(r)
	r.reply = ipc.Reply{Body: []byte{1}}
	tr, err := seq.SetState(ctx, cpuseq.PowerStateA0)
	check(t, "FromPrimitive arg", err, r.req.Args, []byte{3})
	if tr != cpuseq.TransitionUnchanged {
		t.Fatalf("transition %d", tr)
	}
	r.reply = ipc.Reply{Body: []byte{2}}
	if _, err := seq.SetState(ctx, cpuseq.PowerStateA0); !errors.Is(err, ipc.ErrBadReply) {
		t.Fatalf("Transition 2 = %v", err)
	}
	// [u8; 64] reply.
	regs := bytes.Repeat([]byte{0xab}, 64)
	r.reply = ipc.Reply{Body: regs}
	got, err := seq.ReadFpgaRegs(ctx)
	check(t, "[u8; 64] reply", err, got[:], regs)

	// A non-slice typed write lease: [usize; NUM_TASKS] as 12 u32 LE.
	j := jefe.NewJefeClient(r)
	var counts [12]uint32
	w := make([]byte, 48)
	w[0], w[44] = 5, 7
	r.reply = ipc.Reply{Written: [][]byte{w}}
	if err := j.ReadFaultCounts(ctx, &counts); err != nil || counts[0] != 5 || counts[11] != 7 {
		t.Fatalf("fault counts %v %v", counts, err)
	}
	if l := r.req.Leases; len(l) != 1 || len(l[0].Data) != 48 || !l[0].Write {
		t.Fatalf("lease %+v", l)
	}
}

// Hubpack: enums as a variant-index byte, Option as 00 / 01+value, tuples
// and structs inline, bool 0 or 1 only.
func TestHubpackWire(t *testing.T) {
	ctx := context.Background()
	r := &recorder{}

	u := lpc55update.NewUpdateClient(r)
	err := u.SwitchDefaultImage(ctx, lpc55update.SlotIdB, lpc55update.SwitchDurationForever)
	check(t, "two enums", err, r.req.Args, []byte{1, 1})

	pr := packrat.NewPackratClient(r)
	r.reply = ipc.Reply{Body: cat(le32(3), []byte{4, 0})}
	out, err := pr.WriteHostBootfail(ctx, 9, ipc.Option[uint16]{}, []byte("x"))
	check(t, "u8, None", err, r.req.Args, []byte{9, 0})
	if out != (packrat.HostInfoWriteOutput{Index: 3, Slot: 4}) {
		t.Fatalf("reply %+v", out)
	}
	_, err = pr.WriteHostBootfail(ctx, 9, ipc.Some[uint16](0x0102), nil)
	check(t, "u8, Some(u16)", err, r.req.Args, []byte{9, 1, 2, 1})
	if packrat.PackratWriteHostBootfailArgsSize != 4 {
		t.Fatalf("max size %d, want 1 + (1 + 2)", packrat.PackratWriteHostBootfailArgsSize)
	}

	// Enum with data: variant index then payload.
	h := hf.NewHostFlashClient(r)
	r.reply = ipc.Reply{}
	var digest [32]uint8
	digest[0], digest[31] = 0xaa, 0xbb
	err = h.ApobBegin(ctx, 0x100, hf.ApobHash{Variant: hf.ApobHashSha256, Sha256: digest})
	check(t, "u32, enum with [u8; 32]", err, r.req.Args, cat(le32(0x100), []byte{0}, digest[:]))

	s := sensor.NewSensorClient(r)
	ts := uint64(0x0102030405060708)
	f := math.Float32bits(1.5)
	// Option<(Result<f32, NoData>, u64)>: Some, Ok(1.5), ts.
	r.reply = ipc.Reply{Body: cat([]byte{1, 0}, le32(f), le64(ts))}
	raw, err := s.GetRawReading(ctx, sensor.SensorId{Id: 3})
	check(t, "SensorId newtype", err, r.req.Args, le32(3))
	if !raw.Some || raw.V.V0.IsErr || raw.V.V0.Ok != 1.5 || raw.V.V1 != ts {
		t.Fatalf("Some(Ok) = %+v", raw)
	}
	// Some, Err(NoData::DeviceTimeout = variant 4), ts.
	r.reply = ipc.Reply{Body: cat([]byte{1, 1, 4}, le64(ts))}
	raw, err = s.GetRawReading(ctx, sensor.SensorId{Id: 3})
	if err != nil || !raw.Some || !raw.V.V0.IsErr || raw.V.V0.Err != sensor.NoDataDeviceTimeout {
		t.Fatalf("Some(Err) = %+v %v", raw, err)
	}
	r.reply = ipc.Reply{Body: []byte{0}}
	if raw, err = s.GetRawReading(ctx, sensor.SensorId{}); err != nil || raw.Some {
		t.Fatalf("None = %+v %v", raw, err)
	}
	r.reply = ipc.Reply{Body: []byte{2}}
	if _, err = s.GetRawReading(ctx, sensor.SensorId{}); !errors.Is(err, ipc.ErrBadReply) {
		t.Fatalf("Option tag 2 = %v", err)
	}
	if sensor.SensorGetRawReadingReplySize != 14 {
		t.Fatalf("Option<(Result<f32, NoData>, u64)> max size %d, want 1+(1+4)+8", sensor.SensorGetRawReadingReplySize)
	}
	// A tuple (f32, u64).
	r.reply = ipc.Reply{Body: cat(le32(f), le64(ts))}
	mn, err := s.GetMin(ctx, sensor.SensorId{})
	if err != nil || mn.V0 != 1.5 || mn.V1 != ts {
		t.Fatalf("tuple = %+v %v", mn, err)
	}

	// Hubpack bool is strict.
	n := net.NewNetClient(r)
	r.reply = ipc.Reply{Body: []byte{1, 0, 0, 1, 1, 1, 0, 0}}
	ls, err := n.ManagementLinkStatus(ctx)
	if err != nil || ls.Ksz8463100baseFxLinkUp != [2]bool{true, false} || ls.Vsc8552SgmiiLinkUp != [2]bool{false, false} {
		t.Fatalf("bools %+v %v", ls, err)
	}
	r.reply = ipc.Reply{Body: []byte{2, 0, 0, 1, 1, 1, 0, 0}}
	if _, err := n.ManagementLinkStatus(ctx); !errors.Is(err, ipc.ErrBadReply) {
		t.Fatalf("hubpack bool 2 = %v", err)
	}
}

// Ssmarshal: for these types the same bytes as Hubpack.
func TestSsmarshalWire(t *testing.T) {
	ctx := context.Background()
	r := &recorder{}
	c := api.NewIdolTestClient(r)
	in := api.FancyTestType{U: 1, B: true, F: 1.0}
	r.reply = ipc.Reply{Body: cat(le32(2), []byte{0}, le32(math.Float32bits(2.5)))}
	out, err := c.FancyIncrement(ctx, in)
	check(t, "struct u32, bool, f32", err, r.req.Args, []byte{1, 0, 0, 0, 1, 0, 0, 0x80, 0x3f})
	if out != (api.FancyTestType{U: 2, B: false, F: 2.5}) {
		t.Fatalf("reply %+v", out)
	}
	var addr [16]uint8
	addr[15] = 1
	r.reply = ipc.Reply{Body: []byte{0x34, 0x12}}
	vid, err := c.ExtractVidEnum(ctx, api.SocketNameBroadcast, api.UdpMetadata{Addr: addr, Port: 0x1f90, Size: 5, Vid: 0x0302})
	check(t, "enum index, struct", err, r.req.Args, cat([]byte{1}, addr[:], []byte{0x90, 0x1f}, le32(5), []byte{2, 3}))
	if vid != 0x1234 {
		t.Fatalf("vid %#x", vid)
	}
	// Enum with data in Ssmarshal: ResetReason::Other(u32) is variant 8.
	j := jefe.NewJefeClient(r)
	r.reply = ipc.Reply{}
	err = j.SetResetReason(ctx, jefe.ResetReason{Variant: jefe.ResetReasonOther, Other: 0xdeadbeef})
	check(t, "data enum", err, r.req.Args, cat([]byte{8}, le32(0xdeadbeef)))
	// An invalid variant is refused before sending.
	calls := r.calls
	if err := j.SetResetReason(ctx, jefe.ResetReason{Variant: 200}); !errors.Is(err, ipc.ErrInvalidValue) || r.calls != calls {
		t.Fatalf("invalid variant: %v (sent: %v)", err, r.calls != calls)
	}
}

// max_len is inclusive, checked client side before anything is sent.
func TestMaxLenClientSide(t *testing.T) {
	ctx := context.Background()
	r := &recorder{}
	h := hf.NewHostFlashClient(r)
	if err := h.PageProgram(ctx, 0, hf.HfProtectModeAllowSector0, make([]byte, 256)); err != nil {
		t.Fatalf("256 of max 256: %v", err)
	}
	calls := r.calls
	err := h.PageProgram(ctx, 0, hf.HfProtectModeAllowSector0, make([]byte, 257))
	var lt *ipc.LeaseTooLongError
	if !errors.As(err, &lt) || lt.Len != 257 || lt.Max != 256 || r.calls != calls {
		t.Fatalf("257 of max 256: %v", err)
	}
}
