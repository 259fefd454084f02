package flowproxy

import (
	"testing"
)

// BenchmarkFlowStateCodec is what every page step pays for its flow-state cookie: seal a
// recorded state (a login page's) and open it again.
func BenchmarkFlowStateCodec(b *testing.B) {
	resp, err := load(b, "login_password_no_webauthn").Steps[1].FlowResponse()
	if err != nil {
		b.Fatal(err)
	}
	st := &flowState{Flow: "login", Resp: resp, Return: "/app"}
	c := newStateCodec([][]byte{testKeys(0).Hash, testKeys(0).Block})
	b.ReportAllocs()
	for b.Loop() {
		v, err := c.encode("hankogate_login", st)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.decode("hankogate_login", v); err != nil {
			b.Fatal(err)
		}
	}
}
