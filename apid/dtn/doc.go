// Package dtn joins APID switches on different computers through a DTN
// (Bundle Protocol 7, RFC 9171) node: dtn7-go's dtnd, run as a separate
// process (it is GPL-3.0 and never linked into spacenet), talked to through
// its web agent (a WebSocket carrying CBOR messages).
//
// A Link is the switch's side (apidswitch.Config.Remote): frames a tenant
// sends to a remote's APIDs (policy.Remote) are batched into bundles to the
// remote's endpoint ID; bundles from a remote's endpoint are put back in
// order and their frames given to apidswitch.Switch.InjectRemote, which
// checks them as a tenant's. Every bundle asks for a delivery report; a
// batch not reported delivered is sent again (dtnd loses bundles now and
// then under load), and one not reported within its lifetime is given back
// to the switch, which answers each of its frames with Link_failed. The
// design, the payload format and the failure cases are in docs/dtn.md.
//
// It also holds the codec of what dtnd speaks: a little CBOR, bundles (a
// primary and a payload block out; any blocks in), status reports, and the
// web agent's messages; and the batch format of the bundles' payloads.
// Every decoder takes hostile input (fuzz_test.go).
//
// It is not a DTN node: storing, forwarding, routing and the convergence
// layers (TCPCLv4) are dtnd's. It does not start dtnd either (see
// scripts/dtnd.sh and internal/dtntest).
package dtn
