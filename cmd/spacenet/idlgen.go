package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"spacenet/ipc/idol"
	"spacenet/ipc/idol/gen"
)

var idlGenFlags struct {
	goOut   bool
	pkg     string
	types   string
	outPath string
}

var idlGenCmd = &cobra.Command{
	Use:   "gen --go --package P [--types TYPES.toml] FILE [-o OUT.go]",
	Short: "Generate Go client, server interface and dispatcher from an .idol file",
	Long: `gen checks an .idol file and writes Go code for it: op-code constants,
message sizes, a client with one method per op, a server interface and a
dispatcher, on top of package spacenet/ipc. Named types (error enums,
structs, enums) come from the TOML types file (see docs/idol.md). The
output is gofmt-clean, deterministic and marked as generated, so it can be
run from //go:generate:

  //go:generate go run spacenet/cmd/spacenet idl gen --go --package cameraipc --types ../../idl/types.toml ../../idl/camera.idol -o camera_idol.go

Without -o the code goes to standard output. It also writes the typed
pipelined side (a PipelinedServer interface, one Call type and one
Read<Op>Args decoder per op).

Warnings go to standard error ("warning: file:line:col: op X: ..."): an
op no client method is generated for and why (upstream's client generator
refuses it too: a non-idempotent op with a Simple reply, an idempotent op
with err: ServerDeath or a read+write lease; its server side is still
generated), an op field upstream ignores, a type upstream could not build
(a Zerocopy bool or C-like enum) or whose Ssmarshal encoding exceeds
upstream's size_of buffer, a From receive strategy without a function.`,
	Example: `  spacenet idl gen --go --package cameraipc --types idl/types.toml idl/camera.idol -o /tmp/camera_idol.go`,
	Args:    usageArgs(cobra.ExactArgs(1)),
	RunE: func(cmd *cobra.Command, args []string) error {
		f := idlGenFlags
		if !f.goOut {
			return &exitError{code: 2, err: fmt.Errorf("idl gen: --go is required (Go is the only target)")}
		}
		if f.pkg == "" {
			return &exitError{code: 2, err: fmt.Errorf("idl gen: --package is required")}
		}
		file, err := idol.LoadFile(args[0])
		if err != nil {
			for _, e := range flatten(err) {
				fmt.Fprintln(cmd.ErrOrStderr(), e)
			}
			return &exitError{code: 1, err: fmt.Errorf("idl gen: %s has errors", args[0])}
		}
		var types *gen.Types
		if f.types != "" {
			if types, err = gen.LoadTypes(f.types); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("idl gen: %w", err)}
			}
		}
		printWarnings(cmd, file.Warnings)
		warn := func(m string) { fmt.Fprintln(cmd.ErrOrStderr(), "warning: "+m) }
		src, err := gen.Generate(file.Interface, gen.Options{Package: f.pkg, Source: filepath.Base(args[0]), Types: types, File: file, Warn: warn})
		if err != nil {
			for _, e := range flatten(err) {
				fmt.Fprintln(cmd.ErrOrStderr(), e)
			}
			return &exitError{code: 1, err: fmt.Errorf("idl gen: %s: cannot generate", args[0])}
		}
		if f.outPath == "" || f.outPath == "-" {
			_, err = cmd.OutOrStdout().Write(src)
			return err
		}
		return writeFileAtomic(f.outPath, src)
	},
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so a failed run never leaves half a file behind.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func init() {
	fl := idlGenCmd.Flags()
	fl.BoolVar(&idlGenFlags.goOut, "go", false, "generate Go (the only target)")
	fl.StringVar(&idlGenFlags.pkg, "package", "", "Go package name of the output")
	fl.StringVar(&idlGenFlags.types, "types", "", "TOML file mapping the named types to Go")
	fl.StringVarP(&idlGenFlags.outPath, "out", "o", "", "output file (default: standard output)")
	idlCmd.AddCommand(idlGenCmd)
}
