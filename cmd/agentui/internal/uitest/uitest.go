// Package uitest runs agentui against a live agenthost in real processes
// and drives the page in headless Chromium (chromedp): the browser test of
// cmd/agentui and the screenshots program (cmd/agentui/screenshots) share
// it.
package uitest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
	"gopkg.in/yaml.v3"

	"github.com/lockstep-rt/lockstep/examples/wasm/topology"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

// Chromium finds the browser: $LOCKSTEP_CHROMIUM, else chromium or
// chromium-browser on PATH (Debian's package chromium; scripts/setup.sh
// installs it).
func Chromium() (string, error) {
	if p := os.Getenv("LOCKSTEP_CHROMIUM"); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("uitest: LOCKSTEP_CHROMIUM=%s: %w (give the path of a chromium executable)", p, err)
		}
		return found, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("uitest: no chromium on PATH (install Debian's chromium package: scripts/setup.sh does, or set LOCKSTEP_CHROMIUM)")
}

// Browser starts headless Chromium with a window of width x height and
// returns a chromedp context of one tab; cancel closes it.
func Browser(ctx context.Context, width, height int) (context.Context, context.CancelFunc, error) {
	path, err := Chromium()
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(width, height),
		chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // starts the browser, for the tab's lifetime
		cancelTab()
		cancelAlloc()
		return nil, nil, fmt.Errorf("uitest: starting %s: %w", path, err)
	}
	return bctx, func() { cancelTab(); cancelAlloc() }, nil
}

// Build builds agenthost and agentui into dir and returns their paths.
func Build(dir string) (agenthost, agentui string, err error) {
	root := guests.Root()
	agenthost, agentui = filepath.Join(dir, "agenthost"), filepath.Join(dir, "agentui")
	for bin, pkg := range map[string]string{agenthost: "./cmd/agenthost", agentui: "./cmd/agentui"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("uitest: go build %s: %v\n%s", pkg, err, out)
		}
	}
	return agenthost, agentui, nil
}

// Topology writes a topology of n agents into dir and returns its path:
// the default topology's nine agents (whose faulty agent fails and is
// restarted every few ticks) and examples/classify's five (four classify
// through model "flowers", one tallies: ONNX Runtime must be installed,
// scripts/setup.sh does it), then counters c00015... in group "pool" (the
// parent of the default's group "flaky"), each a member of one of eight
// channels bus0..bus7, for ticks ticks. Its modules are the guests in
// moduleDir.
func Topology(dir, moduleDir string, n, ticks int) (string, error) {
	var topo, classify map[string]any
	if err := yaml.Unmarshal(topology.Topology, &topo); err != nil {
		return "", fmt.Errorf("uitest: the default topology: %w", err)
	}
	classifyDir := filepath.Join(guests.Root(), "examples", "classify")
	b, err := os.ReadFile(filepath.Join(classifyDir, "topology.yaml"))
	if err != nil {
		return "", err
	}
	if err := yaml.Unmarshal(b, &classify); err != nil {
		return "", fmt.Errorf("uitest: examples/classify/topology.yaml: %w", err)
	}
	list := func(m map[string]any, key string) []any { l, _ := m[key].([]any); return l }
	modules := append(list(topo, "modules"), list(classify, "modules")...)
	for _, m := range modules { // every module from moduleDir
		if m, ok := m.(map[string]any); ok {
			m["path"] = filepath.Join(moduleDir, filepath.Base(fmt.Sprint(m["path"])))
		}
	}
	models := list(classify, "models")
	for _, m := range models { // beside examples/classify
		if m, ok := m.(map[string]any); ok {
			m["path"] = filepath.Join(classifyDir, fmt.Sprint(m["path"]))
		}
	}
	groups := []any{map[string]any{"name": "pool", "strategy": "one-for-one", "on_failure": "restart", "max_restarts": 50, "window": 100}}
	for _, g := range list(topo, "groups") {
		if g, ok := g.(map[string]any); ok && g["parent"] == nil {
			g["parent"] = "pool"
		}
		groups = append(groups, g)
	}
	agents := append(list(topo, "agents"), list(classify, "agents")...)
	for i := len(agents); i < n; i++ {
		agents = append(agents, map[string]any{"id": fmt.Sprintf("c%05d", i+1), "kind": "counter", "group": "pool", "channels": []string{fmt.Sprintf("bus%d", i%8)}})
	}
	topo["modules"], topo["models"], topo["groups"], topo["agents"], topo["ticks"] = modules, models, groups, agents, ticks
	if w, ok := topo["wasm"].(map[string]any); ok { // summer and its twins read every count the counters publish
		w["fuel"] = 5000000 + n*20000
	}
	out, err := yaml.Marshal(topo)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("ui-%d.yaml", n))
	return path, os.WriteFile(path, out, 0o644)
}

// Proc is a started process whose stdout is kept and whose stderr is
// scanned for its address line.
type Proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout strings.Builder
	stderr strings.Builder
	// wrote is closed (and replaced) whenever output arrives.
	wrote chan struct{}
	done  chan struct{}
	err   error
}

// Start runs bin with args and waits for the stderr line that matches re
// (its first group is returned: the address it serves). It fails when the
// process exits first.
func Start(ctx context.Context, re *regexp.Regexp, bin string, args ...string) (*Proc, string, error) {
	p := &Proc{cmd: exec.CommandContext(ctx, bin, args...), done: make(chan struct{}), wrote: make(chan struct{})}
	p.cmd.Stdout = writerFunc(func(b []byte) { p.write(&p.stdout, string(b)) })
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("uitest: starting %s: %w", bin, err)
	}
	found := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			line := sc.Text()
			p.write(&p.stderr, line+"\n")
			if m := re.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		<-scanned // Wait closes the pipe: read it all first
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	select {
	case addr := <-found:
		return p, addr, nil
	case <-p.done:
		return nil, "", fmt.Errorf("uitest: %s exited before serving (%v):\n%s", bin, p.err, p.Output())
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

func (p *Proc) write(to *strings.Builder, s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	to.WriteString(s)
	close(p.wrote)
	p.wrote = make(chan struct{})
}

// WaitFor waits until the process's output (Output) matches re and returns
// the match's first group; it fails when the process exits without it.
func (p *Proc) WaitFor(ctx context.Context, re *regexp.Regexp) (string, error) {
	for {
		p.mu.Lock()
		out, wrote := p.stdout.String()+p.stderr.String(), p.wrote
		p.mu.Unlock()
		if m := re.FindStringSubmatch(out); m != nil {
			return m[1], nil
		}
		select {
		case <-wrote:
		case <-p.done:
			if m := re.FindStringSubmatch(p.Output()); m != nil {
				return m[1], nil
			}
			return "", fmt.Errorf("uitest: the process exited (%v) without writing %s:\n%s", p.err, re, p.Output())
		case <-ctx.Done():
			return "", fmt.Errorf("uitest: waiting for %s: %w\n%s", re, ctx.Err(), p.Output())
		}
	}
}

// Output is what the process wrote so far: stdout, then stderr.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stdout.String() + p.stderr.String()
}

// Stop sends SIGTERM and waits for the process to exit; it returns the
// process's error (nil for a clean exit).
func (p *Proc) Stop() error {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	}
	return p.err
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }

// Addr patterns of the processes' address lines.
var (
	ObserveLine = regexp.MustCompile(`^observe: (http://127\.0\.0\.1:[0-9]+)$`)
	UILine      = regexp.MustCompile(`^agentui: (http://127\.0\.0\.1:[0-9]+)$`)
)

// Show switches the page to view (overview, tree, agents, channels,
// models or events).
func Show(view string) chromedp.Action[chromedp.Void] {
	var hash string
	return Eval(fmt.Sprintf(`location.hash = %q`, "#"+view), &hash)
}

// Rendered waits (until ctx's deadline) for the page to have rendered
// view from a summary that satisfies cond, a JavaScript expression over
// `s`, the page's last summary (e.g. `s.ended`).
func Rendered(view, cond string) chromedp.Action[chromedp.Void] {
	return Until(fmt.Sprintf(`(() => { const s = window.lockstep && window.lockstep.summary; return !!(s && (document.body.dataset.rendered || "").startsWith(%q) && (%s)); })()`, view+":", cond))
}

// Until waits (until ctx's deadline) for the JavaScript expression js to
// be true in the page, checking it every 50ms.
func Until(js string) chromedp.Action[chromedp.Void] {
	poll := chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0))
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := poll(ctx, t); err != nil {
			return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", js, err)
		}
		return chromedp.Void{}, nil
	}
}

// Eval evaluates the JavaScript expression js in the page into v.
func Eval[T any](js string, v *T) chromedp.Action[chromedp.Void] {
	eval := chromedp.Evaluate[T](js)
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		var err error
		if *v, err = eval(ctx, t); err != nil {
			return chromedp.Void{}, fmt.Errorf("evaluating %s: %w", js, err)
		}
		return chromedp.Void{}, nil
	}
}
