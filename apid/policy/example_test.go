package policy_test

import (
	"fmt"
	"os"

	"spacenet/apid/policy"
)

func ExampleParse() {
	_, err := policy.Parse("cfg.toml", []byte(`[[tenant]]
name = "camera"
owns = ["0x010-0x01F"]

[[tenant]]
name = "processor"
owns = ["0x015", "0x7FF"]
can_send_to = ["camra"]
`))
	fmt.Println(err)
	// Output:
	// cfg.toml:7: tenant "processor": owns: 0x015 already owned by tenant "camera" (line 3)
	// cfg.toml:7: tenant "processor": owns: 0x7FF includes the idle APID 0x7FF; a tenant may own only 0x010-0x7FE
	// cfg.toml:8: tenant "processor": can_send_to: "camra" is neither a tenant nor an APID range
}

func ExamplePolicy_WriteTOML() {
	p := &policy.Policy{Tenants: []policy.Tenant{
		{Name: "logger", Owns: []policy.Range{{First: 0x300, Last: 0x30F}}, CanSendTo: []string{"0x010-0x01F"}},
	}}
	if err := p.WriteTOML(os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// # spacenet APID plane policy.
	// # Check it with: spacenet config check FILE
	//
	// [[tenant]]
	// name = "logger"
	// owns = ["0x300-0x30F"]
	// can_send_to = ["0x010-0x01F"]
	// downlink = false
	//
	// # The ground: the source APIDs of frames from the uplink.
	// [ground]
	// owns = ["0x7F0"]
	// # can_send_to left out: the ground may send to every tenant
}
