//go:build wasip1

// Command goguest is a simple Go guest for measuring the call depth Go's
// wasip1 port reaches (TestGuestDepth): its runtime's initialisation in
// _initialize, then a step that allocates, formats, sorts, marshals JSON and
// collects garbage.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o goguest.wasm main.go
package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strings"
)

var state = map[string]int{}

//go:wasmexport step
func step(n int32) int32 {
	keys := make([]string, 0, n)
	for i := int32(0); i < n; i++ {
		k := fmt.Sprintf("key-%d", i*7919%1000)
		state[k]++
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b, err := json.Marshal(state)
	if err != nil {
		panic(err)
	}
	s := strings.Repeat(string(b[:min(len(b), 64)]), 100)
	runtime.GC()
	return int32(len(s) + len(keys))
}

func main() {}
