package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lockstep-rt/lockstep/host"
	"github.com/lockstep-rt/lockstep/host/federation"
)

// federationFlags are serve's flags for a federated run.
type federationFlags struct {
	role, listen, join, name, tokenFile string
	cert, key, ca                       string
	members                             int
	timeout, joinTimeout                time.Duration
	place, placeModel                   []string
}

func (ff *federationFlags) register(f *pflag.FlagSet) {
	f.StringVar(&ff.role, "federation", "", "spread the run over processes: coordinator (holds the run, its log and API) or member (runs a share of its agents)")
	f.StringVar(&ff.listen, "federation-listen", "127.0.0.1:7000", "coordinator: the address members join (host:port); member: its own address for the coordinator (default 127.0.0.1:0)")
	f.StringVar(&ff.join, "join", "", "member: the coordinator's --federation-listen address")
	f.StringVar(&ff.name, "name", "", "member: its name, unique in the run (default: the host name and process id)")
	f.StringVar(&ff.tokenFile, "token-file", "", "the shared secret every process of the federation holds (a file of at least 16 bytes; e.g. head -c 32 /dev/urandom | base64 > token)")
	f.IntVar(&ff.members, "members", 1, "coordinator: how many members the run waits for before its first tick")
	f.DurationVar(&ff.timeout, "federation-timeout", federation.DefaultTimeout, "how long a tick waits for a member's reports (and a member for the next tick) before the run halts; above the slowest tick")
	f.DurationVar(&ff.joinTimeout, "join-timeout", federation.DefaultJoinTimeout, "how long the coordinator waits for every member to join and be ready, and a member for its welcome")
	f.StringArrayVar(&ff.place, "place", nil, "coordinator: pin an agent to a process, id=name (repeat; name is a member's --name or coordinator); the others are placed by a hash of their id")
	f.StringVar(&ff.cert, "federation-cert", "", "mutual TLS between the processes: this process's certificate (PEM; it must name the host or IP others reach it by), with --federation-key and --federation-ca")
	f.StringVar(&ff.key, "federation-key", "", "mutual TLS: this process's private key (PEM)")
	f.StringVar(&ff.ca, "federation-ca", "", "mutual TLS: the CA certificates (PEM) every process's certificate must chain to")
	f.StringArrayVar(&ff.placeModel, "place-model", nil, "coordinator: serve a model from a member, id=name (repeat; e.g. the member with the GPU): it loads the model, the coordinator's requests go there")
}

// token reads the shared token.
func (ff *federationFlags) token() ([]byte, error) {
	if ff.tokenFile == "" {
		return nil, errors.New("--token-file: a federated run needs a shared secret in a file every process reads (e.g. head -c 32 /dev/urandom | base64 > token)")
	}
	b, err := os.ReadFile(ff.tokenFile)
	if err != nil {
		return nil, fmt.Errorf("--token-file: %w", err)
	}
	return bytes.TrimSpace(b), nil
}

// config is the Config both roles share: the token, the timeout, TLS.
func (ff *federationFlags) config(log *logrus.Logger) (federation.Config, error) {
	token, err := ff.token()
	if err != nil {
		return federation.Config{}, err
	}
	cfg := federation.Config{Token: token, Timeout: ff.timeout, Logger: log}
	switch {
	case ff.cert == "" && ff.key == "" && ff.ca == "":
	case ff.cert == "" || ff.key == "" || ff.ca == "":
		return cfg, errors.New("--federation-cert, --federation-key and --federation-ca go together: give all three for mutual TLS, or none")
	default:
		if cfg.TLS, err = federation.TLSFiles(ff.cert, ff.key, ff.ca); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// pairs parses the id=name values of a placement flag.
func pairs(flag string, values []string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range values {
		id, name, ok := strings.Cut(p, "=")
		if !ok || id == "" || name == "" {
			return nil, fmt.Errorf("--%s %q: give id=process, e.g. --%s classifier=gpu-node", flag, p, flag)
		}
		m[id] = name
	}
	return m, nil
}

// coordinator starts a coordinator for serve: the daemon's host is
// federated through it, and Federate waits for the members.
func (ff *federationFlags) coordinator(cmd *cobra.Command, log *logrus.Logger, stderr io.Writer) (*federation.Coordinator, func(*host.Host, *host.Checkpoint) error, error) {
	fcfg, err := ff.config(log)
	if err != nil {
		return nil, nil, err
	}
	place, err := pairs("place", ff.place)
	if err != nil {
		return nil, nil, err
	}
	models, err := pairs("place-model", ff.placeModel)
	if err != nil {
		return nil, nil, err
	}
	c, err := federation.Listen(federation.CoordinatorConfig{Config: fcfg,
		Listen: ff.listen, Members: ff.members, Placement: place, ModelPlacement: models})
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(stderr, "federation: waiting for %d member(s) on %s\n", ff.members, c.Addr())
	start := func(h *host.Host, cp *host.Checkpoint) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), ff.joinTimeout)
		defer cancel()
		if err := c.Start(ctx, h.LogHeader(), cp); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "federation: running on %s\n", strings.Join(c.Roster(), ", "))
		return nil
	}
	return c, start, nil
}

// member runs serve --federation member: it joins the coordinator and
// runs its share of the agents until the coordinator finishes the run.
func (ff *federationFlags) member(ctx context.Context, g *globalFlags, sf *serveFlags, log *logrus.Logger, stderr io.Writer) error {
	if ff.join == "" {
		return errors.New("--join: give the coordinator's --federation-listen address")
	}
	fcfg, err := ff.config(log)
	if err != nil {
		return err
	}
	name := ff.name
	if name == "" {
		h, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	listen := ff.listen
	if listen == "127.0.0.1:7000" { // the coordinator's default
		listen = "127.0.0.1:0"
	}
	if sf.dataDir != "" {
		log.Infof("federation: a member keeps nothing in --data-dir %s: its state is the coordinator's, sent every tick", sf.dataDir)
	}
	// The replica's agent logs and supervision lines repeat the
	// coordinator's: a member shows only errors, unless debugging.
	replicaLog := logrus.New()
	replicaLog.SetOutput(log.Out)
	replicaLog.SetFormatter(log.Formatter)
	replicaLog.SetLevel(min(log.GetLevel(), logrus.ErrorLevel))
	if log.GetLevel() >= logrus.DebugLevel {
		replicaLog.SetLevel(log.GetLevel())
	}
	fmt.Fprintf(stderr, "federation: member %s joining %s\n", name, ff.join)
	err = federation.Join(ctx, ff.join, federation.MemberConfig{
		Config: fcfg, Name: name, Listen: listen, JoinTimeout: ff.joinTimeout,
		Replay: host.ReplayOptions{Kinds: kinds(), Workers: sf.workers, Logger: replicaLog, ModuleDirs: []string{defaultModuleDir(sf.moduleDir)},
			Trust: sf.trust, AllowUnsigned: sf.allowUnsigned, Engine: sf.engine, CacheDir: sf.cacheDir, Inference: host.InferenceConfig{Library: g.ortLib}},
	})
	if err == nil {
		fmt.Fprintf(stderr, "federation: member %s done\n", name)
	}
	return err
}
