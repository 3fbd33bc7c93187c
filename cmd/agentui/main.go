// Command agentui is Lockstep's read-only dashboard. It runs in its own
// process, pulls the views that `agenthost run --observe ADDR` publishes
// at every barrier (package host/observe), and shows them in a browser:
//
//	agenthost run --observe 127.0.0.1:7070 &
//	agentui --host http://127.0.0.1:7070 --listen 127.0.0.1:7071
//
// The page charts the run's per-tick history, shows its progress, the
// supervision tree, the agents, channels, models and events (docs/UI.md).
// It serves GET / (the page), GET /static/... (its script, style and the
// vendored chart library, uPlot, with its licence) and GET /api/summary,
// /api/agents, /api/channels and /api/snapshot: the host's views of the
// same names, fetched when the page asks (with the page's query and
// If-None-Match; 502 when the host cannot be reached). Live, it has no
// write endpoints: attaching, detaching or killing it never changes a run.
// Its server has the limits of package host/observe/server (at most 64
// connections, each with read, write and idle timeouts).
//
// With --replay FILE it serves the same page over a replay of a log
// instead of a live host (see replay.go).
package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/observe/server"
)

//go:embed static
var static embed.FS

// maxAnswer bounds an answer agentui relays, in bytes.
const maxAnswer = 64 << 20

// views are the host's views the page reads, relayed under /api/.
var views = []string{"summary", "agents", "channels", "snapshot"}

func main() {
	if err := newRoot(os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "agentui:", err)
		os.Exit(1)
	}
}

func newRoot(stderr io.Writer) *cobra.Command {
	var (
		hostURL, listen, logLevel, replay string
		timeout                           time.Duration
		ropts                             host.ReplayOptions
	)
	cmd := &cobra.Command{
		Use:   "agentui",
		Short: "A read-only dashboard of a Lockstep run (pulls from agenthost run --observe, or replays a log)",
		Example: `  agentui --host http://127.0.0.1:7070
  agentui --replay run.replay --module-dir bin/wasm`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := logrus.New()
			log.SetOutput(stderr)
			log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
			lvl, err := logrus.ParseLevel(logLevel)
			if err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log.SetLevel(lvl)
			var api http.Handler
			what := hostURL
			if replay != "" {
				r, err := openReplay(replay, ropts, log)
				if err != nil {
					return err
				}
				api, what = r.Handler(), "replay of "+replay
			} else if api, err = newProxy(hostURL, &http.Client{Timeout: timeout}, log); err != nil {
				return err
			}
			h, err := newHandler(api)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: cannot listen: %w", listen, err)
			}
			log.Infof("dashboard of %s on http://%s", what, ln.Addr())
			fmt.Fprintf(stderr, "agentui: http://%s\n", ln.Addr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, errc := server.Serve(ln, h, server.Limits{}) // bounded connections and timeouts
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		},
	}
	cmd.SetErr(stderr)
	f := cmd.Flags()
	f.StringVar(&hostURL, "host", "http://127.0.0.1:7070", "the host's observe address (agenthost run --observe)")
	f.StringVar(&replay, "replay", "", "instead of a live host, replay this log (agenthost run --record) and let the page move over its ticks")
	f.StringSliceVar(&ropts.ModuleDirs, "module-dir", nil, "with --replay: where the run's modules and models are (repeat; default: the log's directory)")
	f.BoolVar(&ropts.AllowUnsigned, "allow-unsigned", false, "with --replay: replay unsigned modules (a developer run)")
	f.StringSliceVar(&ropts.Trust, "trust", nil, "with --replay: trusted public key files or directories for signed modules (repeat)")
	f.StringVar(&listen, "listen", "127.0.0.1:7071", "where to serve the dashboard")
	f.DurationVar(&timeout, "timeout", 2*time.Second, "timeout of each request to the host")
	f.StringVar(&logLevel, "log-level", "info", "log level: panic, fatal, error, warning, info, debug, trace")
	return cmd
}

// newHandler serves the page, its static files and api under /api/.
func newHandler(api http.Handler) (http.Handler, error) {
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, err
	}
	const csp = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", csp)
		w.Write(index)
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(files)))
	mux.Handle("/api/", http.StripPrefix("/api", api))
	return mux, nil
}

// newProxy relays the views of the host at hostURL, fetching them with
// client.
func newProxy(hostURL string, client *http.Client, log *logrus.Logger) (http.Handler, error) {
	u, err := url.Parse(hostURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--host %q: give the host's observe URL, e.g. http://127.0.0.1:7070", hostURL)
	}
	base := strings.TrimSuffix(u.String(), "/")
	mux := http.NewServeMux()
	for _, v := range views {
		mux.HandleFunc("GET /"+v, func(w http.ResponseWriter, r *http.Request) {
			target := base + "/" + v
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			if err := relay(w, r, client, target); err != nil {
				log.Debugf("%s: %v", v, err)
				http.Error(w, "agentui: "+err.Error(), http.StatusBadGateway)
			}
		})
	}
	return mux, nil
}

// relay GETs target with r's If-None-Match and writes the answer to w: a
// JSON view, 304, or the host's 400 (a bad query). Anything else is an
// error, and nothing is written.
func relay(w http.ResponseWriter, r *http.Request, client *http.Client, target string) error {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	if m := r.Header.Get("If-None-Match"); m != "" {
		req.Header.Set("If-None-Match", m)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("host %s unreachable: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("host %s: reading the answer: %v", target, err)
	}
	if len(body) > maxAnswer {
		return fmt.Errorf("host %s: answer over %d bytes", target, maxAnswer)
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
	case resp.StatusCode == http.StatusBadRequest:
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("host %s answered %s (is it agenthost run --observe?)", target, resp.Status)
	case !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"):
		return fmt.Errorf("host %s: the answer is not JSON (is it agenthost run --observe?)", target)
	}
	for _, k := range []string{"Content-Type", "ETag", "Cache-Control"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
	return nil
}
