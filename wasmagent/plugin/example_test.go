package plugin_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// An author signs a module; a host verifies it under its policy.
func Example() {
	// The author's key (GenerateKey(nil) in real use) and a module that
	// imports lockstep.send and lockstep.log.
	key, _ := plugin.GenerateKey(bytes.NewReader(make([]byte, 32)))
	module := buildModule("lockstep.send", "lockstep.log")

	info, _ := plugin.Inspect(module)
	fmt.Println("needs:", info.NeededCapabilities)

	signed, err := plugin.Sign(module, plugin.Manifest{
		Name: "pinger", Version: "1.0.0", ABIVersion: 1, Capabilities: info.NeededCapabilities,
	}, key)
	if err != nil {
		panic(err)
	}

	// The host trusts the author's public key file.
	pub, _ := plugin.ParsePublicKey(plugin.MarshalPublicKey(key.Public()), "author.pub")
	p := plugin.Policy{Trust: plugin.NewTrust(pub), Grants: []string{"messaging.send", "log"}, Version: "^1.0"}
	m, err := plugin.Verify(signed, p)
	fmt.Println("verified:", m.Name, m.Version, m.Capabilities, err)

	// Granting less is a rejection that names the capability.
	p.Grants = []string{"log"}
	_, err = plugin.Verify(signed, p)
	fmt.Println(errors.Is(err, plugin.ErrNotGranted))
	fmt.Println(err)
	// Output:
	// needs: [log messaging.send]
	// verified: pinger 1.0.0 [log messaging.send] <nil>
	// true
	// plugin: capability not granted: module "pinger" 1.0.0: declares capability messaging.send, which the host does not grant this agent (granted: log); grant it in the agent's configuration, or drop it from the manifest and re-sign
}

func ExampleImportCapability() {
	for _, imp := range [][2]string{{"lockstep", "publish"}, {"lockstep", "tick"}, {"lockstep", "config"}, {"wasi_snapshot_preview1", "fd_write"}, {"env", "abort"}} {
		c, ok := plugin.ImportCapability(imp[0], imp[1])
		fmt.Printf("%s.%s: %q %v\n", imp[0], imp[1], c, ok)
	}
	// Output:
	// lockstep.publish: "messaging.publish" true
	// lockstep.tick: "" true
	// lockstep.config: "" true
	// wasi_snapshot_preview1.fd_write: "wasi" true
	// env.abort: "" false
}

func ExampleCapabilities() {
	for _, c := range plugin.Capabilities() {
		fmt.Printf("%-18s %s\n", c, plugin.CapabilityDoc(c))
	}
	// Output:
	// channels           join and leave channels (lockstep.join, lockstep.leave)
	// inference          request inferences from any model (lockstep.infer); inference:MODEL allows one model
	// log                write log lines (lockstep.log)
	// messaging.publish  publish messages to channels (lockstep.publish)
	// messaging.send     send direct messages to agents (lockstep.send)
	// random             draw from the agent's seeded random stream (lockstep.random)
	// state.read         read agents' state regions as of the previous tick (lockstep.state_read)
	// state.write        write the agent's own state regions (lockstep.state_write)
	// wasi               import wasi_snapshot_preview1 (tick clocks, seeded random, no files, environment or arguments)
}

func ExampleMatchVersion() {
	for _, req := range []string{"1.2.0", "^1.2", ">=1.0.0 <2.0.0", "~1.1"} {
		ok, _ := plugin.MatchVersion(req, "1.2.5")
		fmt.Printf("%-16s %v\n", req, ok)
	}
	// Output:
	// 1.2.0            false
	// ^1.2             true
	// >=1.0.0 <2.0.0   true
	// ~1.1             false
}
