// Command agentui is Lockstep's read-only dashboard. It runs in its own
// process, pulls the snapshot that `agenthost run --observe ADDR` publishes
// at every barrier, and shows it in a browser:
//
//	agenthost run --observe 127.0.0.1:7070 &
//	agentui --host http://127.0.0.1:7070 --listen 127.0.0.1:7071
//
// It serves GET / (the page) and GET /api/snapshot (the host's /snapshot,
// fetched when the page asks; 502 when the host cannot be reached). It has
// no write endpoints: attaching, detaching or killing it never changes a
// run. Its server has the limits of package host/observe/server (at most 64
// connections, each with read, write and idle timeouts).
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	"github.com/lockstep-rt/lockstep/host/observe/server"
)

//go:embed index.html
var page embed.FS

// maxSnapshot bounds the snapshot agentui relays, in bytes.
const maxSnapshot = 64 << 20

func main() {
	if err := newRoot(os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "agentui:", err)
		os.Exit(1)
	}
}

func newRoot(stderr io.Writer) *cobra.Command {
	var (
		hostURL, listen, logLevel string
		timeout                   time.Duration
	)
	cmd := &cobra.Command{
		Use:           "agentui",
		Short:         "A read-only dashboard of a Lockstep run (pulls from agenthost run --observe)",
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
			h, err := newHandler(hostURL, &http.Client{Timeout: timeout}, log)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: cannot listen: %w", listen, err)
			}
			log.Infof("dashboard of %s on http://%s", hostURL, ln.Addr())
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
	f.StringVar(&listen, "listen", "127.0.0.1:7071", "where to serve the dashboard")
	f.DurationVar(&timeout, "timeout", 2*time.Second, "timeout of each request to the host")
	f.StringVar(&logLevel, "log-level", "info", "log level: panic, fatal, error, warning, info, debug, trace")
	return cmd
}

// newHandler serves the dashboard of the host at hostURL, fetching its
// snapshots with client.
func newHandler(hostURL string, client *http.Client, log *logrus.Logger) (http.Handler, error) {
	u, err := url.Parse(hostURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--host %q: give the host's observe URL, e.g. http://127.0.0.1:7070", hostURL)
	}
	snapshotURL := strings.TrimSuffix(u.String(), "/") + "/snapshot"
	index, err := page.ReadFile("index.html")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
		w.Write(index)
	})
	mux.HandleFunc("GET /api/snapshot", func(w http.ResponseWriter, r *http.Request) {
		body, err := fetch(r.Context(), client, snapshotURL)
		if err != nil {
			log.Debugf("snapshot: %v", err)
			http.Error(w, "agentui: "+err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(body)
	})
	return mux, nil
}

// fetch GETs the host's snapshot.
func fetch(ctx context.Context, client *http.Client, snapshotURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, snapshotURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("host %s unreachable: %v", snapshotURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSnapshot+1))
	if err != nil {
		return nil, fmt.Errorf("host %s: reading the snapshot: %v", snapshotURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("host %s answered %s", snapshotURL, resp.Status)
	}
	if len(body) > maxSnapshot {
		return nil, fmt.Errorf("host %s: snapshot over %d bytes", snapshotURL, maxSnapshot)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("host %s: the answer is not JSON (is it agenthost run --observe?)", snapshotURL)
	}
	return body, nil
}
