// Command xplat is Lockstep's cross-platform determinism check (make xplat):
// the same topologies must give the same digest at every tick on every OS,
// CPU and wazero engine, and a replay log recorded on one must verify on
// the others. From the repository root:
//
//	go run ./internal/xplat [-j N] [-platforms KEY,...] [-topologies KEY,...]
//
// It works in steps, as many at once as -j allows:
//
//  1. Builds the example agents into bin/wasm (scripts/guests.sh, and
//     examples/xplat/*.c with clang-14), and agenthost into bin/xplat: for
//     linux/amd64 with cgo (ONNX Runtime works), and with CGO_ENABLED=0 for
//     linux/arm64, linux/riscv64, windows/amd64, darwin/amd64 and
//     darwin/arm64 (the last two are only built).
//  2. Runs each topology (plan.go) with agenthost run --record: natively
//     with --engine compiler (the reference) and --engine interpreter,
//     under qemu-aarch64-static with both engines, under
//     qemu-riscv64-static (no wazero compiler there: it interprets) and
//     under wine (windows/amd64). A topology with models runs only
//     natively: the CGO_ENABLED=0 builds have no ONNX Runtime.
//  3. Verifies logs across platforms with agenthost verify, modules found
//     through --module-dir: each reference log under qemu and wine, and
//     every other platform's log natively.
//  4. Reads every run's tick digests from its replay log (package
//     host/replaylog) and compares them with the reference run's, tick by
//     tick.
//
// It prints two tables, platform × topology (final digest, and "every tick
// identical" or the first divergent tick and agent) and log × verifying
// platform, then what differed, and exits 1 when anything disagrees or
// fails. Every command's output is kept in bin/xplat/out.
//
// Needs what scripts/setup.sh installs: qemu-user-static, wine and the
// wine prefix with its stub bcryptprimitives.dll (scripts/wineprefix.sh;
// $LOCKSTEP_WINEPREFIX, default ~/.cache/lockstep/wine).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

func main() {
	err := mainErr(os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "xplat:", err)
		os.Exit(1)
	}
}

// options are the flags.
type options struct {
	jobs                  int
	platforms, topologies string
	out, moduleDir        string
	timeout               time.Duration
}

// check is one run of the check.
type check struct {
	opt   options
	plats []*platform
	topos []*topology
	wine  string // WINEPREFIX
	sched *scheduler
	start time.Time

	builds   map[*platform]*job // by binary: platforms sharing a build share the job
	runs     []*run
	verifies []*verification
	// golden are the runs of sdk/go/pmath's golden test on the foreign
	// platforms, by GOOS/GOARCH.
	golden map[string]*job
}

// run is one topology run on one platform.
type run struct {
	topo *topology
	plat *platform
	log  string
	job  *job
	res  result
}

// verification is one log verified on one platform.
type verification struct {
	of   *run
	on   *platform
	job  *job
	res  result
	note string // why a failure is expected to be fixed elsewhere, if it is
}

func mainErr(stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("xplat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.jobs, "j", runtime.NumCPU(), "commands at once")
	fs.StringVar(&o.platforms, "platforms", "", "platforms to check, comma-separated (default: all; amd64-compiler, the reference, always)")
	fs.StringVar(&o.topologies, "topologies", "", "topologies to check, comma-separated (default: all)")
	fs.StringVar(&o.out, "out", "bin/xplat", "directory for binaries, replay logs, caches and command output")
	fs.StringVar(&o.moduleDir, "module-dir", "bin/wasm", "where the example agents are built and looked up")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "limit on each command")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if o.jobs < 1 {
		return fmt.Errorf("-j %d: give at least 1", o.jobs)
	}
	if _, err := os.Stat(filepath.Join("cmd", "agenthost")); err != nil {
		return errors.New("run it from the repository root: go run ./internal/xplat (or make xplat)")
	}
	c := &check{opt: o, start: time.Now(), builds: map[*platform]*job{}}
	var err error
	if c.plats, err = pick("platforms", o.platforms, platforms, func(p *platform) string { return p.Key }); err != nil {
		return err
	}
	if c.plats[0] != platforms[0] {
		c.plats = append([]*platform{platforms[0]}, c.plats...)
	}
	if c.topos, err = pick("topologies", o.topologies, topologies, func(t *topology) string { return t.Key }); err != nil {
		return err
	}
	if err := c.tools(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c.sched = newScheduler(ctx, o.jobs, func(f string, a ...any) {
		fmt.Fprintf(stderr, "xplat %6s  %s\n", time.Since(c.start).Round(time.Second), fmt.Sprintf(f, a...))
	})
	c.plan()
	c.sched.run()
	ok := c.report(stdout)
	fmt.Fprintf(stdout, "\nxplat: %d runs, %d verifications in %v\n", len(c.runs), len(c.verifies), time.Since(c.start).Round(time.Second))
	if !ok {
		return errors.New("the platforms disagree or a step failed (above; every command's output is in " + filepath.Join(o.out, "out") + ")")
	}
	return nil
}

// tools checks that what runs the foreign binaries is installed.
func (c *check) tools() error {
	const fix = "run scripts/setup.sh (as root: it installs qemu-user-static, wine, wine64, gcc-mingw-w64-x86-64-win32 and prepares the wine prefix)"
	for _, p := range c.plats {
		if len(p.Via) == 0 {
			continue
		}
		if _, err := exec.LookPath(p.Via[0]); err != nil {
			return fmt.Errorf("platform %s needs %s: %v; %s", p.Key, p.Via[0], err, fix)
		}
		if p.Via[0] == "wine" && c.wine == "" {
			c.wine = os.Getenv("LOCKSTEP_WINEPREFIX")
			if c.wine == "" {
				home, err := os.UserHomeDir()
				if err != nil {
					return err
				}
				c.wine = filepath.Join(home, ".cache", "lockstep", "wine")
			}
			dll := filepath.Join(c.wine, "drive_c", "windows", "system32", "bcryptprimitives.dll")
			if _, err := os.Stat(dll); err != nil {
				return fmt.Errorf("platform %s needs the wine prefix %s with the stub %s (Go's Windows binaries need ProcessPrng, which wine 8 lacks): %v; %s", p.Key, c.wine, filepath.Base(dll), err, fix)
			}
		}
	}
	return nil
}

// plan adds every job: the agents, the builds, the runs, the
// verifications.
func (c *check) plan() {
	o := c.opt
	// cmd is the command argv (empty: filled in by agenthost), its output
	// kept in out/NAME.txt.
	cmd := func(name string, argv ...string) command {
		c := command{out: filepath.Join(o.out, "out", name+".txt"), timeout: o.timeout}
		if len(argv) > 0 {
			c.prog, c.args = argv[0], argv[1:]
		}
		return c
	}
	// Jobs start in the order they are added, among those whose
	// dependencies are done: what the slow qemu runs and verifications
	// need comes first, the darwin builds, which nothing needs, last.
	agents := c.sched.add(&job{name: "agents: scripts/guests.sh, examples/xplat/*.c", do: func(ctx context.Context) error {
		return c.buildAgents(ctx, cmd)
	}})
	for _, p := range c.plats {
		if !p.BuildOnly {
			c.addBuild(cmd, p)
		}
	}
	ref := c.plats[0]
	var order []*platform // the reference, then the foreign platforms, then the other native ones
	order = append(order, ref)
	for _, p := range c.plats[1:] {
		if len(p.Via) > 0 {
			order = append(order, p)
		}
	}
	for _, p := range c.plats[1:] {
		if p.Native() {
			order = append(order, p)
		}
	}
	for _, p := range order {
		for _, t := range c.topos {
			if t.runsOn(p) {
				c.addRun(cmd, t, p, agents)
			}
		}
	}
	// Cross-verification: the reference logs under qemu and wine, every
	// other log natively. A verify replays with wazero's default engine
	// for its platform (agenthost verify cannot choose one yet), so one
	// verification per binary suffices.
	verified := map[string]bool{}
	for _, r := range c.runs {
		if r.plat != ref {
			continue
		}
		for _, p := range order {
			if bin := p.Binary(o.out); len(p.Via) > 0 && !verified[r.log+" "+bin] {
				verified[r.log+" "+bin] = true
				c.addVerify(cmd, r, p)
			}
		}
	}
	for _, r := range c.runs {
		if r.plat != ref {
			c.addVerify(cmd, r, ref)
		}
	}
	for _, p := range order {
		c.addGolden(cmd, p)
	}
	for _, p := range c.plats {
		if p.BuildOnly {
			c.addBuild(cmd, p)
		}
	}
}

// addGolden runs sdk/go/pmath's golden and special-value tests on p when p
// is a foreign platform not checked yet: the portable math Go agents use
// must give the bits recorded on amd64 (they are in testdata/golden.txt).
func (c *check) addGolden(cmd func(string, ...string) command, p *platform) {
	key := p.GOOS + "-" + p.GOARCH
	if len(p.Via) == 0 || c.golden[key] != nil {
		return
	}
	bin, err := filepath.Abs(filepath.Join(c.opt.out, "pmath-"+key+".test"))
	if err != nil {
		bin = filepath.Join(c.opt.out, "pmath-"+key+".test")
	}
	if p.GOOS == "windows" {
		bin += ".exe"
	}
	build := cmd("pmath-build-"+key, "go", "test", "-c", "-o", bin, "./sdk/go/pmath")
	build.env = []string{"GOOS=" + p.GOOS, "GOARCH=" + p.GOARCH, "CGO_ENABLED=0"}
	test := c.agenthost(p, cmd("pmath-golden-"+key), "-test.run", "Golden|Special", "-test.short")
	test.prog = bin
	test.dir = "sdk/go/pmath" // the test reads testdata/golden.txt
	j := &job{name: "sdk/go/pmath golden on " + p.GOOS + "/" + p.GOARCH, do: func(ctx context.Context) error {
		if err := mustSucceed(build.run(ctx)); err != nil {
			return err
		}
		return mustSucceed(test.run(ctx))
	}}
	if c.golden == nil {
		c.golden = map[string]*job{}
	}
	c.golden[key] = c.sched.add(j)
}

// addBuild builds p's agenthost, unless a platform with the same binary
// has already.
func (c *check) addBuild(cmd func(string, ...string) command, p *platform) {
	bin := p.Binary(c.opt.out)
	for q, j := range c.builds {
		if q.Binary(c.opt.out) == bin {
			c.builds[p] = j
			return
		}
	}
	b := cmd("build-"+p.GOOS+"-"+p.GOARCH, "go", "build", "-o", bin, "./cmd/agenthost")
	cgo := "0"
	if p.CGO {
		cgo = "1"
	}
	b.env = []string{"GOOS=" + p.GOOS, "GOARCH=" + p.GOARCH, "CGO_ENABLED=" + cgo}
	c.builds[p] = c.sched.add(&job{name: "build " + filepath.Base(bin), do: func(ctx context.Context) error { return mustSucceed(b.run(ctx)) }})
}

// addRun runs t on p, recording its replay log.
func (c *check) addRun(cmd func(string, ...string) command, t *topology, p *platform, agents *job) {
	o := c.opt
	r := &run{topo: t, plat: p, log: filepath.Join(o.out, "logs", t.Key+"."+p.Key+".replay")}
	args := []string{"run", "--progress", "never", "--ticks", strconv.Itoa(t.Ticks), "--record", r.log,
		"--module-dir", o.moduleDir, "--wasm-cache", filepath.Join(o.out, "cache", p.Key)}
	if t.Path != "" {
		args = append(args, "--topology", t.Path)
	}
	if p.Engine != "" {
		args = append(args, "--engine", p.Engine)
	}
	rc := c.agenthost(p, cmd("run-"+t.Key+"."+p.Key), args...)
	r.job = &job{name: fmt.Sprintf("run %s on %s", t.Key, p.Name()), deps: []*job{agents, c.builds[p]}}
	r.job.do = func(ctx context.Context) (err error) {
		if err := os.MkdirAll(filepath.Dir(r.log), 0o755); err != nil {
			return err
		}
		_ = os.Remove(r.log)
		r.res, err = rc.run(ctx)
		r.job.status = exitStatus(r.res)
		return err
	}
	c.sched.add(r.job)
	c.runs = append(c.runs, r)
}

// addVerify verifies r's log on p.
func (c *check) addVerify(cmd func(string, ...string) command, r *run, p *platform) {
	v := &verification{of: r, on: p}
	args := []string{"verify", "--allow-unsigned", "--module-dir", c.opt.moduleDir}
	if r.topo.ModelDir != "" && p.CGO {
		args = append(args, "--module-dir", r.topo.ModelDir)
	}
	vc := c.agenthost(p, cmd("verify-"+r.topo.Key+"."+r.plat.Key+".on."+p.Key), append(args, r.log)...)
	if r.topo.Inference && !p.CGO {
		v.note = "no ONNX Runtime in this build: the log must carry every inference output (issue 9, item 2)"
	}
	v.job = &job{name: fmt.Sprintf("verify %s from %s on %s", r.topo.Key, r.plat.Key, p.Name()), deps: []*job{r.job, c.builds[p]}}
	v.job.do = func(ctx context.Context) (err error) {
		v.res, err = vc.run(ctx)
		v.job.status = exitStatus(v.res)
		return err
	}
	c.sched.add(v.job)
	c.verifies = append(c.verifies, v)
}

// agenthost is the command running p's agenthost with args.
func (c *check) agenthost(p *platform, base command, args ...string) command {
	base.via, base.prog, base.args = p.Via, p.Binary(c.opt.out), args
	if len(p.Via) > 0 && p.Via[0] == "wine" {
		base.env = []string{"WINEPREFIX=" + c.wine, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml="}
		base.unset = []string{"DISPLAY", "WAYLAND_DISPLAY"}
	}
	return base
}

// freestanding are the clang flags of scripts/guests.sh's C agents without
// libc.
var freestanding = []string{"-O2", "-Wall", "-Wextra", "-Werror", "-Isdk/c", "--target=wasm32", "-nostdlib", "-Wl,--no-entry",
	"-Wl,--stack-first", "-Wl,-z,stack-size=65536", "-Wl,--strip-debug"}

// buildAgents builds the example agents into the module directory: those
// of scripts/guests.sh, then examples/xplat's C agents.
func (c *check) buildAgents(ctx context.Context, cmd func(string, ...string) command) error {
	if err := mustSucceed(cmd("guests", "bash", "scripts/guests.sh", c.opt.moduleDir).run(ctx)); err != nil {
		return err
	}
	srcs, err := filepath.Glob(filepath.Join("examples", "xplat", "*.c"))
	if err != nil {
		return err
	}
	for _, src := range srcs {
		name := filepath.Base(src[:len(src)-2])
		argv := append(append([]string{"clang-14"}, freestanding...), "-o", filepath.Join(c.opt.moduleDir, name+".wasm"), src)
		if err := mustSucceed(cmd("agent-"+name, argv...).run(ctx)); err != nil {
			return err
		}
	}
	return nil
}

// exitStatus is a job's status for a command's result: "" when it exited 0.
func exitStatus(r result) string {
	if r.Code == 0 {
		return ""
	}
	return fmt.Sprintf("exit %d: %s", r.Code, r.Tail())
}

// mustSucceed turns a non-zero exit into an error with the command's last
// line.
func mustSucceed(r result, err error) error {
	if err != nil {
		return err
	}
	if r.Code != 0 {
		return fmt.Errorf("exit status %d: %s", r.Code, r.Tail())
	}
	return nil
}
