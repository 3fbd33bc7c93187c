package federation

import "sync"

// testEndpoint is the one protoactor remote of a test process: remote.Start
// sets gRPC's global logger, a data race with the goroutines of any remote
// started before it in the same process. Coordinators of the tests take
// turns on it (tests run one at a time); members are processes of their own.
var testEndpoint = sync.OnceValues(func() (*endpoint, error) { return listen("127.0.0.1:0", &Config{Logger: quietLog()}) })

// ListenShared is Listen on the test process's one endpoint.
func ListenShared(cfg CoordinatorConfig) (*Coordinator, error) {
	ep, err := testEndpoint()
	if err != nil {
		return nil, err
	}
	return listenOn(cfg, ep)
}
