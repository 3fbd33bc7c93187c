package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report prints the tables and what differed; it returns false when
// anything disagrees or failed.
func (c *check) report(w io.Writer) bool {
	ok := true
	var problems []string
	fail := func(format string, a ...any) {
		ok = false
		problems = append(problems, fmt.Sprintf(format, a...))
	}

	fmt.Fprintln(w, "\nbuilds:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	seen := map[*job]bool{}
	for _, p := range c.plats {
		j := c.builds[p]
		if seen[j] {
			continue
		}
		seen[j] = true
		status := "ok"
		if j.err != nil {
			status = "FAILED"
			fail("build for %s/%s: %v", p.GOOS, p.GOARCH, j.err)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", filepath.Base(p.Binary(c.opt.out)), status, j.elapsed.Round(time.Second))
	}
	tw.Flush()

	if len(c.golden) > 0 {
		fmt.Fprintln(w, "\nsdk/go/pmath, golden bits recorded on amd64 (Go agents' portable math):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, key := range slices.Sorted(maps.Keys(c.golden)) {
			j := c.golden[key]
			status := "identical"
			if j.err != nil {
				status = "FAILED"
				fail("sdk/go/pmath golden on %s: %v", key, j.err)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", key, status, j.elapsed.Round(time.Second))
		}
		tw.Flush()
	}

	ref := map[*topology]ticks{}
	for _, r := range c.runs {
		if r.plat == c.plats[0] && r.job.err == nil {
			ref[r.topo] = readTicks(r.log)
		}
	}
	fmt.Fprintf(w, "\nruns: every tick's digest compared with %s's\n", c.plats[0].Name())
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  topology\tplatform\tticks\tfinal digest\tevery tick\ttime")
	for _, t := range c.topos {
		for _, p := range c.plats {
			if p.BuildOnly {
				continue
			}
			r := c.find(t, p)
			if r == nil {
				fmt.Fprintf(tw, "  %s\t%s\t\t\tnot run: no ONNX Runtime without cgo (the native log is verified here, below)\t\n", t.Key, p.Name())
				continue
			}
			cell, digest, n := c.judge(r, ref[t], fail)
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%s\t%s\n", t.Key, p.Name(), n, digest, cell, r.job.elapsed.Round(time.Second))
		}
	}
	tw.Flush()

	if len(c.verifies) > 0 {
		fmt.Fprintln(w, "\ncross-verification: agenthost verify --module-dir of a log recorded on one platform, on another")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  topology\trecorded on\tverified on\tresult\ttime")
		vs := slices.Clone(c.verifies)
		slices.SortStableFunc(vs, func(a, b *verification) int {
			return cmp.Or(cmp.Compare(slices.Index(c.topos, a.of.topo), slices.Index(c.topos, b.of.topo)),
				cmp.Compare(slices.Index(c.plats, a.of.plat), slices.Index(c.plats, b.of.plat)))
		})
		for _, v := range vs {
			cell := "identical"
			switch {
			case v.job.err != nil:
				cell = "FAILED: " + firstLine(v.job.err.Error())
			case v.res.Code != 0:
				cell = fmt.Sprintf("FAILED (exit %d)", v.res.Code)
			}
			if cell != "identical" {
				msg := v.res.Lines(600)
				if v.job.err != nil {
					msg = v.job.err.Error()
				}
				extra := ""
				if v.note != "" {
					extra = "\n    expected until fixed: " + v.note
				}
				fail("verify %s recorded on %s, on %s: %s\n    %s%s", v.of.topo.Key, v.of.plat.Name(), v.on.Name(), cell, msg, extra)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", v.of.topo.Key, v.of.plat.Name(), v.on.Name(), cell, v.job.elapsed.Round(time.Second))
		}
		tw.Flush()
	}

	if ok {
		fmt.Fprintln(w, "\nevery platform agrees")
		return true
	}
	fmt.Fprintf(w, "\n%d disagreements or failures:\n", len(problems))
	for _, p := range problems {
		fmt.Fprintln(w, "- "+p)
	}
	return false
}

// find is the run of t on p, nil if t is not run there.
func (c *check) find(t *topology, p *platform) *run {
	for _, r := range c.runs {
		if r.topo == t && r.plat == p {
			return r
		}
	}
	return nil
}

// judge compares r's log with the reference's: the table's cell, the final
// digest (16 hex digits) and the number of ticks. Disagreements go to fail.
func (c *check) judge(r *run, ref ticks, fail func(string, ...any)) (cell, digest string, n int) {
	if r.job.err != nil {
		fail("run %s on %s: %v", r.topo.Key, r.plat.Name(), r.job.err)
		return "FAILED: " + firstLine(r.job.err.Error()), "", 0
	}
	got := readTicks(r.log)
	n = len(got.Records)
	digest = got.Final()
	if len(digest) > 16 {
		digest = digest[:16]
	}
	var notes []string
	if r.res.Code != 0 {
		notes = append(notes, fmt.Sprintf("exit %d", r.res.Code))
		fail("run %s on %s: exit %d: %s (output: %s)", r.topo.Key, r.plat.Name(), r.res.Code, r.res.Tail(), filepath.Join(c.opt.out, "out"))
	}
	if got.Err != nil && r.res.Code != 0 && len(got.Records) == 0 {
		return "FAILED (" + strings.Join(notes, ", ") + ")", "", 0 // no log: the run's failure says why
	}
	if got.Err != nil {
		notes = append(notes, "log unreadable")
		fail("run %s on %s: %v", r.topo.Key, r.plat.Name(), got.Err)
	} else if !got.Complete && r.res.Code == 0 {
		notes = append(notes, "log not closed")
		fail("run %s on %s: the log has no end record", r.topo.Key, r.plat.Name())
	}
	switch {
	case r.plat == c.plats[0]:
		cell = "reference"
	case ref.Records == nil:
		cell = "no reference to compare with"
		fail("%s on %s: the reference run has no ticks to compare with", r.topo.Key, r.plat.Name())
	default:
		if d := compare(ref.Records, got.Records); d != nil {
			cell = d.Short()
			fail("%s on %s %s: %s", r.topo.Key, r.plat.Name(), d.Short(), d.Detail)
		} else {
			cell = "every tick identical"
		}
	}
	if len(notes) > 0 {
		cell += " (" + strings.Join(notes, ", ") + ")"
	}
	return cell, digest, n
}
