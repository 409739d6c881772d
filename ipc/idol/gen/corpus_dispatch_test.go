package gen_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"spacenet/ipc"
	"spacenet/ipc/idol"
	"spacenet/ipc/idol/gen/internal/corpus/api"
	"spacenet/ipc/idol/gen/internal/corpus/attest"
	"spacenet/ipc/idol/gen/internal/corpus/controlplaneagent"
	"spacenet/ipc/idol/gen/internal/corpus/cpuseq"
	"spacenet/ipc/idol/gen/internal/corpus/dumper"
	"spacenet/ipc/idol/gen/internal/corpus/fpga"
	"spacenet/ipc/idol/gen/internal/corpus/hf"
	"spacenet/ipc/idol/gen/internal/corpus/jefe"
	"spacenet/ipc/idol/gen/internal/corpus/lpc55update"
	"spacenet/ipc/idol/gen/internal/corpus/net"
	"spacenet/ipc/idol/gen/internal/corpus/packrat"
	"spacenet/ipc/idol/gen/internal/corpus/rng"
	"spacenet/ipc/idol/gen/internal/corpus/sensor"
	"spacenet/ipc/idol/gen/internal/corpus/spi"
	"spacenet/ipc/idol/gen/internal/corpus/userleds"
	"spacenet/ipc/idol/gen/internal/corpus/validate"
)

var errReached = errors.New("dispatcher reached the server")

// probe hands each request to a dispatcher whose server is nil: a call that
// gets past every check of the dispatcher (op, sizes, argument decoding,
// leases) panics on the nil server, which probe records.
type probe struct {
	h       ipc.Handler
	reached bool
}

func (p *probe) Call(ctx context.Context, req *ipc.Request, rep *ipc.Reply) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if !strings.Contains(fmt.Sprint(r), "nil pointer") {
				panic(r)
			}
			p.reached = true
			err = errReached
		}
	}()
	return p.h.Handle(ctx, ipc.Caller{}, req, rep)
}

// fill sets v to a value every generated encoder accepts: non-zero numbers,
// true, Some, the first valid variant of an enum, 3-element slices.
func fill(v reflect.Value) {
	if m := v.Addr().MethodByName("Valid"); m.IsValid() && v.CanInt() || m.IsValid() && v.CanUint() {
		for i := 0; i < 256; i++ {
			if v.CanInt() {
				v.SetInt(int64(i))
			} else {
				v.SetUint(uint64(i))
			}
			if m.Call(nil)[0].Bool() {
				return
			}
		}
		panic("no valid variant for " + v.Type().String())
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Type().Name() == "" || strings.HasPrefix(v.Type().Name(), "uint") {
			v.SetUint(1)
		}
		// A data enum's XVariant stays 0: the first variant.
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Array:
		for i := 0; i < v.Len(); i++ {
			fill(v.Index(i))
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 3, 3))
		for i := 0; i < 3; i++ {
			fill(v.Index(i))
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	}
}

// TestCorpusDispatch calls every op of every corpus interface through its
// generated client into its generated dispatcher: each request the client
// builds passes every check of the dispatcher and decodes.
func TestCorpusDispatch(t *testing.T) {
	ifaces := []struct {
		file               string
		newClient, newDisp any
	}{
		{"api", api.NewIdolTestClient, api.NewIdolTestDispatcher},
		{"attest", attest.NewAttestClient, attest.NewAttestDispatcher},
		{"control-plane-agent", controlplaneagent.NewControlPlaneAgentClient, controlplaneagent.NewControlPlaneAgentDispatcher},
		{"cpu-seq", cpuseq.NewSequencerClient, cpuseq.NewSequencerDispatcher},
		{"dumper", dumper.NewDumperClient, dumper.NewDumperDispatcher},
		{"fpga", fpga.NewFpgaClient, fpga.NewFpgaDispatcher},
		{"hf", hf.NewHostFlashClient, hf.NewHostFlashDispatcher},
		{"jefe", jefe.NewJefeClient, jefe.NewJefeDispatcher},
		{"lpc55-update", lpc55update.NewUpdateClient, lpc55update.NewUpdateDispatcher},
		{"net", net.NewNetClient, net.NewNetDispatcher},
		{"packrat", packrat.NewPackratClient, packrat.NewPackratDispatcher},
		{"rng", rng.NewRngClient, rng.NewRngDispatcher},
		{"sensor", sensor.NewSensorClient, sensor.NewSensorDispatcher},
		{"spi", spi.NewSpiClient, spi.NewSpiDispatcher},
		{"user-leds", userleds.NewUserLedsClient, userleds.NewUserLedsDispatcher},
		{"validate", validate.NewValidateClient, validate.NewValidateDispatcher},
	}
	total := 0
	for _, ifc := range ifaces {
		t.Run(ifc.file, func(t *testing.T) {
			model, err := idol.ParseFile(filepath.Join("..", "testdata", "corpus", ifc.file+".idol"))
			if err != nil {
				t.Fatal(err)
			}
			nd := reflect.ValueOf(ifc.newDisp)
			disp := nd.Call([]reflect.Value{reflect.Zero(nd.Type().In(0))})[0].Interface().(ipc.Handler)
			p := &probe{h: disp}
			client := reflect.ValueOf(ifc.newClient).Call([]reflect.Value{reflect.ValueOf(p)})[0]
			if n := client.NumMethod(); n != len(model.Ops) {
				t.Fatalf("client has %d methods, file has %d ops", n, len(model.Ops))
			}
			for _, op := range model.Ops {
				m := client.MethodByName(goName(op.Name))
				if !m.IsValid() {
					t.Fatalf("no method for op %s", op.Name)
				}
				in := []reflect.Value{reflect.ValueOf(context.Background())}
				for i := 1; i < m.Type().NumIn(); i++ {
					v := reflect.New(m.Type().In(i)).Elem()
					fill(v)
					in = append(in, v)
				}
				p.reached = false
				out := m.Call(in)
				err, _ := out[len(out)-1].Interface().(error)
				if !p.reached || !errors.Is(err, errReached) {
					t.Errorf("op %s: dispatcher refused the client's request: %v", op.Name, err)
				}
				total++
			}
		})
	}
	if total < 150 {
		t.Fatalf("only %d ops exercised", total)
	}
}

func goName(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}
