// Package federation spreads one Lockstep run over several processes on
// protoactor-go's remote (gRPC transport, protobuf messages), with the
// same digests as the run on one host.
//
// A coordinator runs the run's host as usual: the topology, the commands,
// the model manager, the replay log and the engine that routes, supervises
// and chains digests. Members join it; each holds a replica of the engine
// (built from the coordinator's log header, as a replay is) and runs the
// agents placed on it. Placement is a function of the agent's id and the
// roster (every process, the coordinator first, then the members by name):
// it decides where an agent runs, never what it does.
//
// One tick, for tick t:
//
//  1. The coordinator begins t and sends every member one Tick message:
//     the commands applied before t, the reports of tick t-1 of the
//     agents not on that member, t-1's inference answers and the digest
//     after t-1. Its own agents start at once.
//  2. A member commits t-1 on its replica with those reports (its own it
//     has), checks its digest against the coordinator's, applies the
//     commands, begins t and runs its agents; their reports go back in one
//     Reports message.
//  3. The coordinator fills the remote slots of t with them and commits t
//     when every process has reported: the global barrier. Routing,
//     membership, supervision and the digest chain are the engine's, in
//     canonical order, exactly as on one host.
//
// A member that sends nothing for Config.Timeout, or whose connection
// ends, aborts the tick: nothing of it is committed, the run halts with an
// error naming the member, and the replay log ends with the last committed
// tick (agenthost verify replays it on one machine). Every message after a
// Join carries the session the coordinator opened and a MAC of it under the
// shared token; a message of another session, member or token is refused.
package federation

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/lockstep-rt/lockstep/actors"
)

// Version is the protocol version; processes of different versions do not
// federate.
const Version = "lockstep-federation/1"

// CoordinatorName is the coordinator's name in the roster.
const CoordinatorName = "coordinator"

// DefaultTimeout is Config.Timeout's default.
const DefaultTimeout = 10 * time.Second

// maxMessage bounds a gRPC message between processes: one tick's batch.
const maxMessage = 512 << 20

// MinTokenBytes is the shortest shared token accepted.
const MinTokenBytes = 16

// Config is what both sides need.
type Config struct {
	// Token is the shared secret every process of the run holds (at least
	// MinTokenBytes bytes).
	Token []byte
	// Timeout bounds how long the coordinator waits for a member's reports
	// of a tick, and a member for the coordinator's next tick, before the
	// run halts (default DefaultTimeout). Set it above the slowest tick.
	Timeout time.Duration
	// Logger receives the federation's lines and protoactor's (default
	// logrus's standard logger).
	Logger *logrus.Logger
	// TLS, if set, is mutual TLS between the processes (see TLSFiles):
	// each serves with TLS.Certificates and dials with them, and verifies
	// its peers against TLS.RootCAs. Without it the transport is
	// plaintext gRPC (the MACs still authenticate every message).
	TLS *tls.Config
}

// TLSFiles makes Config.TLS from PEM files: this process's certificate and
// key, and the CA certificates its peers' certificates must chain to. A
// process dials the others by the addresses they announce, so their
// certificates must name those hosts or IP addresses.
func TLSFiles(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("federation: TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("federation: TLS CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("federation: TLS CA file %s holds no PEM certificate", caFile)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}, nil
}

// transport returns the gRPC server and dial credentials of c.
func (c *Config) transport() (grpc.ServerOption, grpc.DialOption) {
	if c.TLS == nil {
		return grpc.EmptyServerOption{}, grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	server := c.TLS.Clone()
	server.ClientCAs, server.ClientAuth = c.TLS.RootCAs, tls.RequireAndVerifyClientCert
	return grpc.Creds(credentials.NewTLS(server)), grpc.WithTransportCredentials(credentials.NewTLS(c.TLS.Clone()))
}

func (c *Config) defaults() error {
	if len(c.Token) < MinTokenBytes {
		return fmt.Errorf("federation: the shared token has %d bytes, at least %d are needed: put a random secret in a file every process reads (--token-file), e.g. head -c 32 /dev/urandom | base64 > token", len(c.Token), MinTokenBytes)
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
	return nil
}

// mac is HMAC-SHA256 of parts under the token.
func mac(token []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, token)
	for _, p := range parts {
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return h.Sum(nil)
}

func sessionBytes(s uint64) []byte { return binary.LittleEndian.AppendUint64(nil, s) }

// joinMAC authenticates a Join; memberMAC a member's messages of a
// session; coordinatorMAC the coordinator's.
func joinMAC(token []byte, member string) []byte { return mac(token, []byte("join"), []byte(member)) }
func memberMAC(token []byte, session uint64, member string) []byte {
	return mac(token, []byte("member"), sessionBytes(session), []byte(member))
}
func coordinatorMAC(token []byte, session uint64) []byte {
	return mac(token, []byte("coordinator"), sessionBytes(session))
}

// Place is the roster index of the process agent id runs on: explicit
// placements first (id -> process name), then a stable hash of the id
// (FNV-1a, 64 bits) over the roster. Every process computes it alike.
func Place(id string, roster []string, explicit map[string]string) int {
	if name, ok := explicit[id]; ok {
		for i, r := range roster {
			if r == name {
				return i
			}
		}
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64() % uint64(len(roster)))
}

// endpoint is a process's actor system with protoactor remote on a TCP
// address.
type endpoint struct {
	sys *actor.ActorSystem
	rem *remote.Remote
}

// listen starts an actor system serving remote on addr ("host:port"; port
// 0 picks one), with cfg's logger and transport.
func listen(addr string, cfg *Config) (ep *endpoint, err error) {
	log := cfg.Logger
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("federation: listen address %q: %w (want host:port, e.g. 127.0.0.1:7000)", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("federation: listen address %q: port %q is not a number from 0 to 65535", addr, portText)
	}
	// remote.Start panics when it cannot listen: try first, to say why.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("federation: cannot listen on %s: %w (is another process using the port?)", addr, err)
	}
	if port == 0 {
		port = l.Addr().(*net.TCPAddr).Port
	}
	l.Close()
	sys := actors.NewActorSystem(log)
	serverCreds, dialCreds := cfg.transport()
	rcfg := remote.Configure(host, port,
		remote.WithServerOptions(serverCreds, grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage), grpc.ChainStreamInterceptor(survive(log))),
		remote.WithDialOptions(dialCreds,
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage))))
	rem := remote.NewRemote(sys, rcfg)
	defer func() {
		if p := recover(); p != nil {
			sys.Shutdown()
			ep, err = nil, fmt.Errorf("federation: starting protoactor remote on %s: %v", addr, p)
		}
	}()
	rem.Start()
	return &endpoint{sys: sys, rem: rem}, nil
}

// survive is a gRPC stream interceptor that turns a panic of protoactor's
// endpoint reader into the end of that one stream: protoactor indexes a
// batch's type names and targets, and looks types up, without checking
// them, so a malformed envelope from anyone who can connect would
// otherwise crash the process before any check of ours runs.
func survive(log *logrus.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if p := recover(); p != nil {
				log.WithField("panic", fmt.Sprint(p)).Warn("federation: a peer sent a message protoactor's remote cannot decode; its connection was closed")
				err = fmt.Errorf("federation: malformed message: %v", p)
			}
		}()
		return handler(srv, ss)
	}
}

// address is where the endpoint is reached.
func (ep *endpoint) address() string { return ep.sys.Address() }

func (ep *endpoint) close() {
	ep.rem.Shutdown(false)
	ep.sys.Shutdown()
}

// errFinished ends a member whose coordinator finished the run.
var errFinished = errors.New("federation: the coordinator finished the run")
