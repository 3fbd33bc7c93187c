package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// A job is one step of the check: a build, a run or a verification. It
// starts when the jobs it depends on are done, and only if they succeeded.
type job struct {
	name string
	deps []*job
	do   func(ctx context.Context) error

	err     error
	elapsed time.Duration
	// status, if do sets it, says how a job without an error ended (e.g.
	// the exit status of a command whose exit is only a result).
	status string

	seq        int    // the order of add: lower starts first
	pending    int    // dependencies not done yet
	depFailed  bool   // a dependency failed: the job will not run
	dependents []*job // jobs that depend on this one
}

// errDep is the error of a job that did not start because a job it
// depends on failed.
var errDep = errors.New("not started: a step it needs failed")

// scheduler runs jobs, at most n at once. Of the jobs whose dependencies
// are done, the one added first starts first: the order of add is the
// order of priority. A job becomes ready, and a finished one frees its
// slot, under one lock, so the order holds whatever the goroutines do.
type scheduler struct {
	ctx  context.Context
	logf func(format string, args ...any)
	wg   sync.WaitGroup

	mu    sync.Mutex
	jobs  []*job
	free  int
	ready []*job // by seq
}

func newScheduler(ctx context.Context, n int, logf func(string, ...any)) *scheduler {
	return &scheduler{ctx: ctx, free: n, logf: logf}
}

// add registers j, to start after start is called.
func (s *scheduler) add(j *job) *job {
	j.seq = len(s.jobs)
	j.pending = len(j.deps)
	for _, d := range j.deps {
		d.dependents = append(d.dependents, j)
	}
	s.jobs = append(s.jobs, j)
	s.wg.Add(1)
	return j
}

// run starts the jobs added and waits until all are done.
func (s *scheduler) run() {
	s.mu.Lock()
	for _, j := range s.jobs {
		if j.pending == 0 {
			s.ready = append(s.ready, j)
		}
	}
	s.dispatch()
	s.mu.Unlock()
	s.wg.Wait()
}

// dispatch starts ready jobs while slots are free; s.mu is held.
func (s *scheduler) dispatch() {
	for s.free > 0 && len(s.ready) > 0 {
		j := s.ready[0]
		s.ready = s.ready[1:]
		s.free--
		go s.exec(j)
	}
}

// exec runs j, then makes its dependents ready (or failed) and frees its
// slot.
func (s *scheduler) exec(j *job) {
	start := time.Now()
	j.err = j.do(s.ctx)
	j.elapsed = time.Since(start)
	status := "ok"
	switch {
	case j.err != nil:
		status = "FAILED: " + firstLine(j.err.Error())
	case j.status != "":
		status = j.status
	}
	s.logf("%-72s %6s  %s", j.name, j.elapsed.Round(time.Second), status)
	s.mu.Lock()
	s.finish(j)
	s.free++
	s.dispatch()
	s.mu.Unlock()
}

// finish marks j done for its dependents; s.mu is held.
func (s *scheduler) finish(j *job) {
	for _, d := range j.dependents {
		d.pending--
		d.depFailed = d.depFailed || j.err != nil
		if d.pending > 0 {
			continue
		}
		if d.depFailed {
			d.err = errDep
			s.finish(d)
			continue
		}
		i := sort.Search(len(s.ready), func(i int) bool { return s.ready[i].seq > d.seq })
		s.ready = slices.Insert(s.ready, i, d)
	}
	s.wg.Done()
}

// command is one process the check runs, from the repository root.
type command struct {
	// via runs the program (qemu-ARCH-static, wine); nil: run it directly.
	via  []string
	prog string
	args []string
	env  []string // added to the environment
	dir  string   // working directory ("": the repository root)
	// unset are environment variables removed (wine must not find a
	// display).
	unset []string
	// out is the file that gets the command line and its output.
	out     string
	timeout time.Duration
}

// result is what a command did.
type result struct {
	Code   int    // exit status; -1 when it did not run to an exit
	Output string // stdout and stderr together
}

// Tail is the command's last non-empty output line.
func (r result) Tail() string {
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(r.Output, "\r", "")), "\n")
	return lines[len(lines)-1]
}

// Lines is the command's output on one line, at most n bytes of it.
func (r result) Lines(n int) string {
	s := strings.Join(strings.Fields(r.Output), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// run runs c; an error is a command that could not start or ran past its
// timeout. A non-zero exit is only a result.
func (c command) run(ctx context.Context) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	argv := append(append(append([]string(nil), c.via...), c.prog), c.args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = environ(c.env, c.unset)
	cmd.Dir = c.dir
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	res := result{Code: -1, Output: buf.String()}
	if c.out != "" {
		_ = os.MkdirAll(filepath.Dir(c.out), 0o755)
		_ = os.WriteFile(c.out, []byte("$ "+strings.Join(argv, " ")+"\n"+res.Output), 0o644)
	}
	var ee *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return res, fmt.Errorf("%s: still running after %v, killed (output: %s)", strings.Join(argv, " "), c.timeout, c.out)
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
		return res, nil
	case err != nil:
		return res, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	res.Code = 0
	return res, nil
}

// environ is the process environment with add set and unset removed.
func environ(add, unset []string) []string {
	drop := map[string]bool{}
	for _, k := range unset {
		drop[k] = true
	}
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, add...)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
