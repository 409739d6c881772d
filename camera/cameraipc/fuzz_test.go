package cameraipc

import (
	"context"
	"testing"

	"spacenet/ipc"
)

// FuzzDispatch feeds arbitrary requests to the generated dispatcher: it
// never panics, and it answers every request with a reply or a Fault.
func FuzzDispatch(f *testing.F) {
	f.Add(uint16(1), []byte{1, 0, 0, 0}, uint8(0), uint16(0), uint32(4))
	f.Add(uint16(5), []byte{1, 2, 1, 2, 1, 1, 0x80, 2, 0xe0, 1}, uint8(0), uint16(0), uint32(3))
	f.Add(uint16(2), []byte{1, 0, 0, 0, 0, 0, 0, 0}, uint8(2), uint16(100), uint32(4))
	f.Add(uint16(7), []byte{}, uint8(2), uint16(8), uint32(0))
	f.Add(uint16(6), []byte{}, uint8(1), uint16(5000), uint32(4))
	f.Fuzz(func(t *testing.T, op uint16, args []byte, flags uint8, leaseLen uint16, replyCap uint32) {
		cam := &camera{}
		cam.Capture(context.Background(), ipc.Caller{}, 10)
		d := NewCameraDispatcher(cam, ipc.Restrict(CameraOpReset, "ops"))
		req := ipc.Request{Op: op, Args: args, ReplyCap: replyCap}
		if flags&3 != 0 {
			req.Leases = []ipc.Lease{{Read: flags&1 != 0, Write: flags&2 != 0, Data: make([]byte, leaseLen)}}
		}
		var rep ipc.Reply
		err := d.Handle(context.Background(), ipc.Caller{Tenant: "x"}, &req, &rep)
		if err != nil {
			if _, ok := ipc.AsFault(err); !ok {
				t.Fatalf("non-fault error %v", err)
			}
			return
		}
		if uint64(len(rep.Body)) > uint64(replyCap) {
			t.Fatalf("body %d bytes > reply cap %d", len(rep.Body), replyCap)
		}
	})
}
