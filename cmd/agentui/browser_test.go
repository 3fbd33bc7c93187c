package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lockstep-rt/lockstep/cmd/agentui/internal/uitest"
	"github.com/lockstep-rt/lockstep/host/observe"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/modelactor"
)

// need skips the test for a missing prerequisite, or fails it when
// LOCKSTEP_REQUIRE_GUESTS is set (as the guest tests do).
func need(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("LOCKSTEP_REQUIRE_GUESTS") == "" {
		t.Skipf("%v (set LOCKSTEP_REQUIRE_GUESTS=1 to fail instead)", err)
	}
	t.Fatal(err)
}

var (
	digestLine = regexp.MustCompile(`(?m)^digest: ([0-9a-f]{64})$`)
	lingering  = regexp.MustCompile(`(?m)^(observe: the run is over)`)
)

// TestBrowser runs agenthost run --observe (60 agents of the example
// guests, some classifying through ONNX Runtime, recorded) and agentui as real processes, drives the page in
// headless Chromium and checks that every view shows the run's real
// values (those of the final snapshot written beside the replay log), that
// the page keeps the final view once the host exits, that the same run
// without an observer or browser has the same digest, and that agentui
// --replay moves over the recorded ticks.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts agenthost, agentui and Chromium")
	}
	_, err := uitest.Chromium()
	need(t, err)
	mods, err := guests.Dir()
	need(t, err)
	_, err = modelactor.FindLibrary("") // the classifiers' model runs on ONNX Runtime
	need(t, err)
	dir := t.TempDir()
	agenthost, agentui, err := uitest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	const agents, ticks = 60, 150
	topo, err := uitest.Topology(dir, mods, agents, ticks)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The browser first, so that it is there while the run is.
	bctx, closeBrowser, err := uitest.Browser(context.Background(), 1280, 900)
	need(t, err)
	defer closeBrowser()
	log := filepath.Join(dir, "run.replay")
	cache := filepath.Join(dir, "cache")
	hostProc, hostURL, err := uitest.Start(ctx, uitest.ObserveLine, agenthost, "run", "--topology", topo, "--observe", "127.0.0.1:0",
		"--observe-linger", "5m", "--pace", "50", "--record", log, "--progress", "never", "--wasm-cache", cache)
	if err != nil {
		t.Fatal(err)
	}
	defer hostProc.Stop()
	uiProc, uiURL, err := uitest.Start(ctx, uitest.UILine, agentui, "--host", hostURL, "--listen", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer uiProc.Stop()
	wctx, wcancel := context.WithTimeout(bctx, 3*time.Minute)
	defer wcancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(wctx, steps...); err != nil {
			t.Fatalf("%s: %v\nagenthost:\n%s\nagentui:\n%s", what, err, hostProc.Output(), uiProc.Output())
		}
	}

	// Live: the page follows the run (paced to last 3 s) to its end.
	do("the live run", chromedp.Navigate(uiURL+"/"), uitest.Rendered("overview", "!s.ended && s.counts.ticks > 0"),
		uitest.Until(`document.querySelector("#status").textContent.startsWith("live")`),
		uitest.Rendered("overview", "s.ended"))
	if _, err := hostProc.WaitFor(ctx, lingering); err != nil { // the final snapshot is on disk
		t.Fatal(err)
	}
	final := readFinal(t, log+".final.json")
	if final.Counts.Ticks != ticks || final.Length != ticks || len(final.Agents) != agents || len(final.History) != ticks || final.Digest == "" {
		t.Fatalf("final snapshot: ticks %d length %d agents %d history %d", final.Counts.Ticks, final.Length, len(final.Agents), len(final.History))
	}

	// Overview: the cards and every chart hold the run's numbers.
	var cards map[string]string
	do("the cards", uitest.Eval(`Object.fromEntries([...document.querySelectorAll("dd")].map((d) => [d.id, d.textContent]))`, &cards))
	for id, want := range map[string]uint64{"tick": final.Tick, "failures": final.Counts.Failures, "restarts": final.Counts.Restarts,
		"delivered": final.Counts.Delivered, "fuel": final.Counts.Fuel, "nagents": agents} {
		if got := strings.ReplaceAll(cards[id], ",", ""); got != strconv.FormatUint(want, 10) {
			t.Errorf("card %s = %q, want %d", id, cards[id], want)
		}
	}
	if final.Counts.Failures == 0 || final.Counts.Delivered == 0 || final.Counts.Fuel == 0 || final.Counts.Inferences == 0 {
		t.Fatalf("the run should fail, deliver and burn fuel: %+v", final.Counts)
	}
	var charts map[string]map[string]string
	do("the charts", uitest.Eval(`Object.fromEntries([...document.querySelectorAll("figure.chart")].map((f) => [f.id,
		{points: f.dataset.points, lastTick: f.dataset.lastTick, total: f.dataset.total, canvas: String(f.querySelectorAll("canvas").length),
		 width: String(f.querySelector("canvas") ? f.querySelector("canvas").width : 0)}]))`, &charts))
	var sum observe.TickStat
	for _, h := range final.History {
		sum.Delivered += h.Delivered
		sum.Failures += h.Failures
		sum.Restarts += h.Restarts
		sum.DeadLetters += h.DeadLetters
		sum.Fuel += h.Fuel
		sum.Inferences += h.Inferences
	}
	for id, total := range map[string]string{
		"chart-delivered":  fmt.Sprint(sum.Delivered),
		"chart-faults":     fmt.Sprintf("%d,%d,%d", sum.Failures, sum.Restarts, sum.DeadLetters),
		"chart-fuel":       fmt.Sprint(sum.Fuel),
		"chart-inferences": fmt.Sprint(sum.Inferences),
	} {
		c := charts[id]
		if c["points"] != strconv.Itoa(ticks) || c["lastTick"] != fmt.Sprint(final.Tick) || c["total"] != total || c["canvas"] == "0" || c["width"] == "0" {
			t.Errorf("%s = %v, want %d points to tick %d totalling %s", id, c, ticks, final.Tick, total)
		}
	}
	if c := charts["chart-work"]; c["points"] != strconv.Itoa(ticks) || c["canvas"] == "0" {
		t.Errorf("chart-work = %v", c)
	}

	// Supervision: pool holds flaky, whose faulty agent restarted.
	flaky, pool := group(t, final, "flaky"), group(t, final, "pool")
	var tree map[string]string
	do("the tree", uitest.Show("tree"), uitest.Rendered("tree", "true"), uitest.Eval(`(() => {
		const f = document.querySelector('li[data-group="pool"] li[data-group="flaky"]');
		const p = document.querySelector('li[data-group="pool"]');
		return {nested: String(!!f), flakyRestarts: f.querySelector(".restarts").dataset.restarts,
			poolRunning: p.querySelector(".count-running").dataset.count, faulty: f.querySelector(".members").textContent};
	})()`, &tree))
	if tree["nested"] != "true" || tree["flakyRestarts"] != fmt.Sprint(flaky.Restarts) || tree["poolRunning"] != fmt.Sprint(pool.Running) ||
		flaky.Restarts == 0 || !strings.Contains(tree["faulty"], "faulty") {
		t.Errorf("tree = %v; want flaky's %d restarts, pool's %d running", tree, flaky.Restarts, pool.Running)
	}

	// Agents: two pages of the final agents (60: 50, then 10), in order,
	// with their numbers.
	var rows [][]string
	rowsJS := `[...document.querySelectorAll("#agents tr")].map((r) => [...r.children].map((c) => c.textContent))`
	do("the agents", uitest.Show("agents"), uitest.Rendered("agents", "true"), uitest.Eval(rowsJS, &rows))
	checkRows(t, rows, final.Agents[:observe.DefaultPage])
	do("the second page of agents", chromedp.Click(".pager[data-for=agents] .next"),
		uitest.Until(fmt.Sprintf(`document.querySelectorAll("#agents tr").length === %d`, agents-observe.DefaultPage)), uitest.Eval(rowsJS, &rows))
	checkRows(t, rows, final.Agents[observe.DefaultPage:])
	do("the agents filtered", input("agent-q", "faul"),
		uitest.Until(`document.querySelectorAll("#agents tr").length === 1 && document.querySelector("#agents tr").dataset.agent === "faulty"`),
		input("agent-state", "stopped"), uitest.Until(`document.querySelector("#agents").textContent === "none"`))

	// Channels: each channel's members.
	do("the channels", uitest.Show("channels"), uitest.Rendered("channels", "true"), uitest.Eval(`[...document.querySelectorAll("#channels tr")].map((r) => [...r.children].map((c) => c.textContent))`, &rows))
	if len(rows) != len(final.Channels) {
		t.Fatalf("channels: %d rows, want %d", len(rows), len(final.Channels))
	}
	for i, c := range final.Channels {
		if rows[i][0] != c.Name || rows[i][1] != strconv.Itoa(len(c.Members)) || rows[i][2] != strings.Join(c.Members, ", ") {
			t.Errorf("channel row %d = %q, want %s with %v", i, rows[i], c.Name, c.Members)
		}
	}

	// Events: newest first; a filter hides a kind.
	last := final.Events[len(final.Events)-1]
	do("the events", uitest.Show("events"), uitest.Rendered("events", "true"),
		uitest.Until(fmt.Sprintf(`document.querySelectorAll("#events tr").length === %d && document.querySelector("#events tr").textContent.startsWith(%q)`,
			len(final.Events), fmt.Sprint(last.Tick)+last.Kind)),
		chromedp.Click(`#event-filters input[value="failed"]`),
		uitest.Until(`[...document.querySelectorAll("#events tr td:nth-child(2)")].every((td) => td.textContent !== "failed")`))

	// Models: flowers, with the run's requests and ONNX Runtime runs.
	if len(final.Models) != 1 || final.Models[0].Requests == 0 || final.Models[0].Requests != final.Counts.Inferences {
		t.Fatalf("models: %+v (inferences %d)", final.Models, final.Counts.Inferences)
	}
	m := final.Models[0]
	do("the models", uitest.Show("models"), uitest.Rendered("models", "true"), uitest.Eval(`[...document.querySelectorAll("#models tr")].map((r) => [...r.children].map((c) => c.textContent))`, &rows))
	if want := []string{m.ID + "@" + m.Version, "yes", strconv.FormatUint(m.Requests, 10), strconv.FormatUint(m.Runs, 10)}; len(rows) != 1 ||
		strings.Join([]string{rows[0][0], rows[0][2], strings.ReplaceAll(rows[0][4], ",", ""), strings.ReplaceAll(rows[0][7], ",", "")}, "|") != strings.Join(want, "|") {
		t.Errorf("models = %q, want %q", rows, want)
	}

	// The host exits: the page keeps its final view and says so.
	if err := hostProc.Stop(); err != nil {
		t.Fatalf("agenthost: %v\n%s", err, hostProc.Output())
	}
	do("the final view after the host exited", uitest.Show("overview"),
		uitest.Until(`document.querySelector("#status").textContent.includes("has exited")`),
		uitest.Until(fmt.Sprintf(`document.querySelector("#tick").textContent === %q && document.querySelector("#chart-fuel").dataset.points === "%d"`, cards["tick"], ticks)))

	// The same run, without observer or browser, has the same digest.
	observed, err := hostProc.WaitFor(ctx, digestLine)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, agenthost, "run", "--topology", topo, "--progress", "never", "--wasm-cache", cache).CombinedOutput()
	if err != nil {
		t.Fatalf("the unobserved run: %v\n%s", err, out)
	}
	if m := digestLine.FindSubmatch(out); m == nil || string(m[1]) != observed || observed != final.Digest {
		t.Fatalf("digests: observed %s (final snapshot %s), unobserved:\n%s", observed, final.Digest, out)
	}

	// agentui --replay re-runs the log and moves over its ticks.
	replayProc, replayURL, err := uitest.Start(ctx, uitest.UILine, agentui, "--replay", log, "--module-dir", mods,
		"--module-dir", filepath.Join(guests.Root(), "examples", "classify"), "--allow-unsigned", "--listen", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer replayProc.Stop()
	do("the replay", chromedp.Navigate(replayURL+"/"),
		uitest.Rendered("overview", fmt.Sprintf("s.tick === %d && s.digest === %q", ticks-1, final.Digest)),
		uitest.Until(`!document.querySelector("#replay-bar").hidden`),
		chromedp.Click("#replay-prev"),
		uitest.Rendered("overview", fmt.Sprintf("s.tick === %d && s.digest !== %q", ticks-2, final.Digest)),
		uitest.Until(fmt.Sprintf(`document.querySelector("#chart-fuel").dataset.points === "%d" && document.querySelector("#replay-slider").value === "%d"`, ticks-1, ticks-2)),
		chromedp.Click("#replay-next"),
		uitest.Rendered("overview", fmt.Sprintf("s.tick === %d && s.digest === %q", ticks-1, final.Digest)))
}

// input sets the value of the page's input or select id as a user would,
// firing its input event.
func input(id, value string) chromedp.Action[chromedp.Void] {
	var ok bool
	return uitest.Eval(fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q; e.dispatchEvent(new Event("input")); return true; })()`, id, value), &ok)
}

func readFinal(t *testing.T, path string) *observe.Snapshot {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s observe.Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &s
}

func group(t *testing.T, s *observe.Snapshot, name string) observe.Group {
	t.Helper()
	for _, g := range s.Groups {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no group %q in %+v", name, s.Groups)
	return observe.Group{}
}

// checkRows compares the agents table's rows with want.
func checkRows(t *testing.T, rows [][]string, want []observe.Agent) {
	t.Helper()
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	n := func(v uint64) string { return strings.ReplaceAll(strconv.FormatUint(v, 10), ",", "") }
	for i, a := range want {
		r := rows[i]
		got := []string{r[0], r[2], r[3], strings.ReplaceAll(r[4], ",", ""), strings.ReplaceAll(r[5], ",", ""), strings.ReplaceAll(r[6], ",", ""), strings.ReplaceAll(r[8], ",", "")}
		exp := []string{a.ID, a.Group, a.State, n(uint64(a.Restarts)), n(a.MessagesIn), n(a.MessagesOut), n(a.FuelTotal)}
		if strings.Join(got, "|") != strings.Join(exp, "|") {
			t.Errorf("row %d = %q, want %q", i, got, exp)
		}
	}
}
