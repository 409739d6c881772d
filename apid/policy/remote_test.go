package policy

import (
	"strings"
	"testing"
	"time"
)

const remoteBase = `[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]
can_send_to = ["payload"]
`

func TestRemoteParse(t *testing.T) {
	p, err := Parse("cfg.toml", []byte(remoteBase+`
[[remote]]
name = "payload"
owns = ["0x020-0x02F", "0x040"]
endpoint = "dtn://payload-computer/spacenet"
lifetime = "10m"
can_send_to = ["camera"]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := p.Remotes[0]
	if r.Name != "payload" || len(r.Owns) != 2 || r.Owns[1] != (Range{0x040, 0x040}) || r.Endpoint != "dtn://payload-computer/spacenet" ||
		r.BundleLifetime() != 10*time.Minute || len(r.CanSendTo) != 1 {
		t.Fatalf("%+v", r)
	}
	if got := p.SendTo(0); len(got) != 2 || got[0] != (Range{0x020, 0x02F}) {
		t.Fatalf("camera's can_send_to resolves to %v", got)
	}
	if i, ok := p.RemoteByEndpoint("dtn://payload-computer/spacenet"); !ok || i != 0 {
		t.Fatal("RemoteByEndpoint")
	}
	var b strings.Builder
	if err := p.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	q, err := Parse("again.toml", []byte(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if q.Remotes[0].Endpoint != r.Endpoint || q.Remotes[0].Lifetime != r.Lifetime || len(q.Remotes[0].Owns) != 2 {
		t.Fatalf("round trip: %+v", q.Remotes[0])
	}
	d, err := Parse("cfg.toml", []byte(remoteBase+"[[remote]]\nname = \"payload\"\nowns = [\"0x020\"]\nendpoint = \"ipn:2.1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Remotes[0].BundleLifetime() != DefaultLifetime || d.Remotes[0].CanSendTo != nil || len(d.RemoteSendTo(0)) != 1 {
		t.Fatalf("defaults: %+v", d.Remotes[0])
	}
}

// TestRemoteErrors: each rule on [[remote]] tables, with the file, line,
// remote and field named.
func TestRemoteErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"missing endpoint and owns", `
[[remote]]
name = "payload"
`, []string{
			`cfg.toml:6: remote "payload": endpoint: missing: the remote switch's DTN endpoint, such as "dtn://payload-computer/spacenet"`,
			`cfg.toml:6: remote "payload": owns: none: a remote must own at least one APID range`,
		}},
		{"bad endpoint, lifetime, key", `
[[remote]]
name = "payload"
owns = ["0x020"]
endpoint = "http://x/"
lifetime = "soon"
colour = "red"
`, []string{
			`cfg.toml:9: remote "payload": endpoint: "http://x/": want dtn://NODE/DEMUX or ipn:NODE.SERVICE`,
			`cfg.toml:10: remote "payload": lifetime: "soon": want a duration such as "10m"`,
			`cfg.toml:11: remote "payload": colour: unknown key (want name, owns, endpoint, lifetime, can_send_to)`,
		}},
		{"overlaps a tenant, duplicate name and endpoint", `
[[remote]]
name = "payload"
owns = ["0x01F-0x020"]
endpoint = "dtn://p/s"

[[remote]]
name = "payload"
owns = ["0x030", "0x7FF"]
endpoint = "dtn://p/s"
`, []string{
			`cfg.toml:8: remote "payload": owns: 0x01F already owned by tenant "camera" (line 3)`,
			`cfg.toml:12: remote "payload": name: "payload" already used by remote #1`,
			`cfg.toml:13: remote "payload": owns: 0x7FF includes the idle APID 0x7FF; a remote may own only 0x010-0x7FE`,
			`cfg.toml:14: remote "payload": endpoint: "dtn://p/s" already used by remote #1`,
		}},
		{"name of a tenant, can_send_to a remote", `
[[remote]]
name = "camera"
owns = ["0x020"]
endpoint = "dtn://p/s"

[[remote]]
name = "payload"
owns = ["0x030"]
endpoint = "dtn://q/s"
can_send_to = ["payload", "nobody"]
`, []string{
			`cfg.toml:7: remote "camera": name: "camera" already used by tenant #1`,
			`cfg.toml:15: remote "payload": can_send_to: "nobody" is neither a tenant nor an APID range`,
			`cfg.toml:15: remote "payload": can_send_to: "payload" is a remote: a remote may reach only this switch's tenants`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cfg.toml", []byte(remoteBase+tc.in))
			if err == nil {
				t.Fatal("accepted")
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}
