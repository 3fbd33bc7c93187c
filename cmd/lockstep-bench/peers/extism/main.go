// Command extism measures Extism's go-sdk (also on wazero) on an empty
// module, for lockstep-bench's peer rows: the time of one call of an
// export that does nothing, of instantiating a compiled plugin, and the
// memory one idle instance holds. It is a Go module of its own so that
// Lockstep's go.mod does not depend on Extism; lockstep-bench runs it with
// go run and reads the one JSON object it prints.
//
// Usage:
//
//	go run . -wasm extism_empty.wasm [-n 1000] [-benchtime 1s]
//
// The module is internal/benchkit/guests/extism_empty.c, built like
// Lockstep's empty.c agent.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	extism "github.com/extism/go-sdk"
)

// Result is what the command prints, as JSON.
type Result struct {
	SDK string `json:"sdk"`
	// CallNs is one Plugin.Call of the empty export "step".
	CallNs float64 `json:"call_ns"`
	// InstantiateNs is one CompiledPlugin.Instance (and nothing else).
	InstantiateNs float64 `json:"instantiate_ns"`
	// HeapBytes and RSSBytes are what one idle instance holds: HeapInuse
	// and resident memory growth over n instances, divided by n.
	HeapBytes float64 `json:"heap_bytes"`
	RSSBytes  float64 `json:"rss_bytes"`
}

func main() {
	wasm := flag.String("wasm", "", "the empty module (a `file` exporting step: () -> i32)")
	n := flag.Int("n", 1000, "instances to measure memory over")
	benchtime := flag.String("benchtime", "1s", "run each measurement for `d` (a duration, or Nx for N iterations)")
	testing.Init() // testing.Benchmark reads -test.benchtime
	flag.Parse()
	if err := flag.Set("test.benchtime", *benchtime); err != nil {
		fmt.Fprintf(os.Stderr, "extism peer: -benchtime %q: %v\n", *benchtime, err)
		os.Exit(2)
	}
	if err := run(*wasm, *n); err != nil {
		fmt.Fprintln(os.Stderr, "extism peer:", err)
		os.Exit(1)
	}
}

func run(path string, n int) error {
	if path == "" || n < 1 {
		return fmt.Errorf("give -wasm FILE and -n ≥ 1")
	}
	ctx := context.Background()
	manifest := extism.Manifest{Wasm: []extism.Wasm{extism.WasmFile{Path: path}}}
	compiled, err := extism.NewCompiledPlugin(ctx, manifest, extism.PluginConfig{}, nil)
	if err != nil {
		return fmt.Errorf("compiling %s: %w", path, err)
	}
	defer compiled.Close(ctx)
	instance := func() (*extism.Plugin, error) { return compiled.Instance(ctx, extism.PluginInstanceConfig{}) }

	p, err := instance()
	if err != nil {
		return err
	}
	if _, _, err := p.Call("step", nil); err != nil {
		return fmt.Errorf("calling step: %w", err)
	}
	var failed error
	res := Result{SDK: "github.com/extism/go-sdk v1.7.1"}
	res.CallNs = measure(func(b *testing.B) {
		for b.Loop() {
			if _, _, err := p.Call("step", nil); err != nil {
				failed = err
				b.FailNow()
			}
		}
	})
	p.Close(ctx)
	res.InstantiateNs = measure(func(b *testing.B) {
		for b.Loop() {
			q, err := instance()
			if err != nil {
				failed = err
				b.FailNow()
			}
			b.StopTimer()
			q.Close(ctx)
			b.StartTimer()
		}
	})
	if failed != nil {
		return failed
	}

	heap0, rss0 := heapInuse(), resident()
	plugins := make([]*extism.Plugin, n)
	for i := range plugins {
		if plugins[i], err = instance(); err != nil {
			return err
		}
	}
	res.HeapBytes = (heapInuse() - heap0) / float64(n)
	res.RSSBytes = (resident() - rss0) / float64(n)
	for _, q := range plugins {
		q.Close(ctx)
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// measure runs f with testing.Benchmark (for -benchtime) and returns its
// ns/op.
func measure(f func(b *testing.B)) float64 {
	r := testing.Benchmark(f)
	if r.N == 0 {
		return 0
	}
	return float64(r.T.Nanoseconds()) / float64(r.N)
}

func heapInuse() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse)
}

// resident is the process's resident memory after the Go runtime has
// returned what it can (Linux; 0 elsewhere). It is internal/benchkit's
// resident again (its RSS) on purpose: this module must not import the
// runtime's, so that measuring the peer links nothing of Lockstep.
func resident() float64 {
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize())
}
