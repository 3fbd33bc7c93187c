// Command screenshots regenerates docs/ui/*.png: every view of agentui at
// 50 and 10 000 agents, from real runs. It builds agenthost and agentui,
// builds the example guests (scripts/guests.sh), runs a generated topology
// with agenthost run --observe --observe-linger, points agentui at it and
// photographs each view in headless Chromium once the page shows the run's
// final view.
//
//	go run ./cmd/agentui/screenshots [-out docs/ui]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lockstep-rt/lockstep/cmd/agentui/internal/uitest"
	"github.com/lockstep-rt/lockstep/internal/guests"
)

// views are the page's views, by their #hash.
var views = []string{"overview", "tree", "agents", "channels", "models", "events"}

func main() {
	out := flag.String("out", filepath.Join(guests.Root(), "docs", "ui"), "where to write the PNG files")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "lockstep-screenshots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	agenthost, agentui, err := uitest.Build(tmp)
	if err != nil {
		return err
	}
	mods, err := guests.Dir()
	if err != nil {
		return err
	}
	for _, size := range []struct{ agents, ticks int }{{50, 300}, {10000, 60}} {
		if err := shoot(out, tmp, mods, agenthost, agentui, size.agents, size.ticks); err != nil {
			return fmt.Errorf("%d agents: %w", size.agents, err)
		}
	}
	return nil
}

// shoot runs a topology of n agents and photographs each view of its
// final state.
func shoot(out, tmp, mods, agenthost, agentui string, n, ticks int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	topo, err := uitest.Topology(tmp, mods, n, ticks)
	if err != nil {
		return err
	}
	hostProc, hostURL, err := uitest.Start(ctx, uitest.ObserveLine, agenthost, "run", "--topology", topo, "--observe", "127.0.0.1:0",
		"--observe-linger", "10m", "--progress", "never", "--wasm-cache", filepath.Join(tmp, "cache"))
	if err != nil {
		return err
	}
	defer hostProc.Stop()
	uiProc, uiURL, err := uitest.Start(ctx, uitest.UILine, agentui, "--host", hostURL, "--listen", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer uiProc.Stop()
	bctx, closeBrowser, err := uitest.Browser(context.Background(), 1440, 1000)
	if err != nil {
		return err
	}
	defer closeBrowser()
	wctx, wcancel := context.WithTimeout(bctx, 3*time.Minute)
	defer wcancel()
	go func() {
		select {
		case <-hostProc.Done(): // it lingers on success: an exit is a failure
			wcancel()
		case <-wctx.Done():
		}
	}()
	if err := chromedp.Do(wctx, chromedp.Navigate(uiURL+"/")); err != nil {
		return err
	}
	for _, v := range views {
		var png []byte
		err := chromedp.Do(wctx,
			uitest.Show(v),
			uitest.Rendered(v, "s.ended"),
			func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
				var err error
				png, err = chromedp.FullScreenshot(100)(ctx, t)
				return chromedp.Void{}, err
			})
		if err != nil {
			return fmt.Errorf("view %s: %w\nagenthost:\n%s", v, err, hostProc.Output())
		}
		path := filepath.Join(out, fmt.Sprintf("%s-%d.png", v, n))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			return err
		}
		fmt.Println(path)
	}
	return nil
}
