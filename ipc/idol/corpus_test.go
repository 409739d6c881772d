package idol

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json and the FuzzParse seeds from testdata/corpus")

// corpusFiles lists the Hubris .idol files copied under testdata/corpus.
func corpusFiles(t testing.TB) []string {
	files, err := filepath.Glob("testdata/corpus/*.idol")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 16 {
		t.Fatalf("found %d corpus files, want 16", len(files))
	}
	return files
}

// TestCorpus parses, checks and dumps every corpus file and compares the
// dump with its golden file; the canonical Format of each re-parses to the
// same dump.
func TestCorpus(t *testing.T) {
	for _, path := range corpusFiles(t) {
		name := strings.TrimSuffix(filepath.Base(path), ".idol")
		t.Run(name, func(t *testing.T) {
			iface, err := ParseFile(path)
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			if len(iface.Ops) == 0 {
				t.Fatal("no ops")
			}
			for i, op := range iface.Ops {
				if op.Code != uint16(i+1) {
					t.Errorf("op %s code %d, want %d", op.Name, op.Code, i+1)
				}
			}
			got, err := Dump(iface)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./idol -update)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("dump differs from %s (-want +got):\n%s", golden, d)
			}
			again, err := ParseChecked("formatted", Format(iface))
			if err != nil {
				t.Fatalf("Format output does not parse: %v", err)
			}
			if d := cmp.Diff(iface, again); d != "" {
				t.Errorf("Format round trip changed the model (-want +got):\n%s", d)
			}
		})
	}
}

// TestCorpusMatchesShared checks that testdata/corpus is an unchanged copy
// of the shared corpus, when the shared tree is there.
func TestCorpusMatchesShared(t *testing.T) {
	shared := filepath.Join("..", "..", "shared", "idol-corpus")
	if _, err := os.Stat(shared); err != nil {
		t.Skipf("shared corpus not present: %v", err)
	}
	for _, path := range corpusFiles(t) {
		a, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(shared, filepath.Base(path)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the shared corpus", path)
		}
	}
}

// TestFuzzSeeds checks that testdata/fuzz/FuzzParse holds every corpus
// file as a seed (go test fuzz v1); -update writes them.
func TestFuzzSeeds(t *testing.T) {
	for _, path := range corpusFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		seed := filepath.Join("testdata", "fuzz", "FuzzParse", "corpus-"+strings.TrimSuffix(filepath.Base(path), ".idol"))
		if *update {
			if err := os.WriteFile(seed, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(seed)
		if err != nil {
			t.Fatalf("%v (run go test ./idol -update)", err)
		}
		if string(got) != want {
			t.Errorf("%s is stale (run go test ./idol -update)", seed)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestSpiModel compares the model of spi.idol, written out by hand from the
// file, field by field.
func TestSpiModel(t *testing.T) {
	iface, err := ParseFile("testdata/corpus/spi.idol")
	if err != nil {
		t.Fatal(err)
	}
	u8 := AttributedType{Type: "u8"}
	unit := AttributedType{Type: "()"}
	spiErr := Reply{Kind: Result, Ok: unit, Err: ErrorType{Kind: CLike, Type: "drv_spi_api::SpiError"}}
	death := Reply{Kind: Result, Ok: unit, Err: ErrorType{Kind: ServerDeath}}
	want := &Interface{
		Name: "Spi",
		Ops: []Op{
			{
				Name: "read", Code: 1,
				Args:   []Arg{{Name: "device_index", AttributedType: u8}},
				Leases: []Lease{{Name: "sink", Type: "[u8]", Write: true, MaxLen: ptr(uint32(65535))}},
				Reply:  spiErr,
				Doc:    ptr("Read bytes from device `device_index` into `sink`, shifting out 1s."),
			},
			{
				Name: "write", Code: 2,
				Args:   []Arg{{Name: "device_index", AttributedType: u8}},
				Leases: []Lease{{Name: "source", Type: "[u8]", Read: true, MaxLen: ptr(uint32(65535))}},
				Reply:  spiErr,
				Doc:    ptr("Write bytes from `source` and to device `device_index`, ignoring whatever's sent back."),
			},
			{
				Name: "exchange", Code: 3,
				Args: []Arg{{Name: "device_index", AttributedType: u8}},
				Leases: []Lease{
					{Name: "source", Type: "[u8]", Read: true, MaxLen: ptr(uint32(65535))},
					{Name: "sink", Type: "[u8]", Write: true, MaxLen: ptr(uint32(65535))},
				},
				Reply: spiErr,
				Doc:   ptr("Simultaneously write bytes from `source` and read bytes into `sink` using device `device_index`."),
			},
			{
				Name: "lock", Code: 4,
				Args: []Arg{
					{Name: "device_index", AttributedType: u8},
					{Name: "cs_state", AttributedType: AttributedType{Type: "CsState", Recv: RecvStrategy{Kind: FromPrimitive, Type: "u8"}}},
				},
				Leases: nil, // no leases field
				Reply:  death,
				Doc:    ptr("Take exclusive control of this SPI controller for talking to device `device_index`."),
			},
			{
				Name: "release", Code: 5,
				Args:  nil, // args: {}
				Reply: death,
				Doc:   ptr("Release a previously acquired lock."),
			},
		},
	}
	if d := cmp.Diff(want, iface); d != "" {
		t.Errorf("spi.idol model (-want +got):\n%s", d)
	}
}

// TestCorpusFeatures checks that features the corpus is said to contain
// come through: description as doc, Hubpack with Complex, Ssmarshal,
// idempotent Simple replies, array leases.
func TestCorpusFeatures(t *testing.T) {
	load := func(name string) *Interface {
		iface, err := ParseFile("testdata/corpus/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return iface
	}
	find := func(iface *Interface, name string) Op {
		for _, op := range iface.Ops {
			if op.Name == name {
				return op
			}
		}
		t.Fatalf("%s has no op %s", iface.Name, name)
		return Op{}
	}
	hf := find(load("hf.idol"), "page_program_dev")
	if hf.Doc == nil || *hf.Doc != "programs a page of flash on the specific dev, restoring the previous dev before returning" {
		t.Errorf("description not kept as doc: %v", hf.Doc)
	}
	att := load("attest.idol").Ops[0]
	if att.Encoding != Hubpack || att.Reply.Err.Kind != Complex || att.Reply.Err.Type != "AttestError" || !att.Idempotent {
		t.Errorf("attest op 1 = %+v", att)
	}
	cpu := find(load("cpu-seq.idol"), "get_state")
	if cpu.Reply.Kind != Simple || cpu.Reply.Ok.Recv.Kind != FromPrimitive || cpu.Reply.Ok.Type != "drv_cpu_power_state::PowerState" {
		t.Errorf("cpu-seq get_state reply = %+v", cpu.Reply)
	}
	jefe := load("jefe.idol")
	var array *Lease
	for _, op := range jefe.Ops {
		for i, l := range op.Leases {
			if strings.Contains(l.Type, ";") {
				array = &op.Leases[i]
			}
		}
	}
	if array == nil || array.Type != "[usize; hubris_num_tasks::NUM_TASKS]" || array.IsSlice() {
		t.Errorf("jefe array lease = %+v", array)
	}
	api := load("api.idol")
	ss := 0
	for _, op := range api.Ops {
		if op.Encoding == Ssmarshal {
			ss++
		}
	}
	if ss != 3 {
		t.Errorf("api.idol has %d Ssmarshal ops, want 3", ss)
	}
}

// BenchmarkParse parses the largest corpus file; the baseline decodes the
// same interface's JSON dump with encoding/json into a generic value.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/corpus/hf.idol")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("hf.idol", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseBaselineJSON is the baseline for BenchmarkParse: the same
// interface as JSON (its dump) decoded by encoding/json into a generic value.
func BenchmarkParseBaselineJSON(b *testing.B) {
	iface, err := ParseFile("testdata/corpus/hf.idol")
	if err != nil {
		b.Fatal(err)
	}
	data, err := Dump(iface)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// TestClientOnlyFixture: a file with a non-idempotent op with a Simple
// reply (as Hubris's peek16) parses, checks and dumps, as upstream parses
// it; only client generation is refused, for that op, with the reason.
func TestClientOnlyFixture(t *testing.T) {
	f, err := LoadFile("testdata/clientonly/peek.idol")
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	out, err := Dump(f.Interface)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"peek16"`)) {
		t.Errorf("dump lacks peek16:\n%s", out)
	}
	var got []string
	for _, p := range f.ClientProblems() {
		got = append(got, p.Error())
	}
	want := []string{`testdata/clientonly/peek.idol:12:20: op "peek16": non-idempotent op has a Simple reply (it could not report a server restart)`}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("ClientProblems (-want +got):\n%s", d)
	}
}
