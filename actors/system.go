package actors

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/sirupsen/logrus"

	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/mailbox"
)

// ErrClosed is returned by a System after Close.
var ErrClosed = errors.New("actors: system is closed")

// Config configures a System. The zero value of every field but Engine and
// Factory means its default.
type Config struct {
	// Engine is the deterministic core the router drives. Required.
	Engine *engine.Engine
	// Factory makes agents. Required.
	Factory engine.Factory
	// Workers is the number of goroutines agents run on (default 1).
	Workers int
	// MaxMessageSize limits payloads (default engine.DefaultMaxMessageSize).
	MaxMessageSize int
	// Logger receives agent logs, a line per supervision event (failures
	// as warnings, rate limited; see eventLog) and protoactor's own lines
	// at debug level (default logrus.StandardLogger()).
	Logger *logrus.Logger
	// Remote, if set, runs the agents it does not call local elsewhere
	// (a federated run); nil runs every agent here.
	Remote Remote
}

// Outcome is the result of one tick.
type Outcome struct {
	Plan  engine.Plan
	Ready engine.Ready
	// err is why the tick was aborted (RemoteTick.Abort): nothing of it
	// was committed.
	err error
}

// System is a running actor system with its router.
type System struct {
	sys  *actor.ActorSystem
	pool *mailbox.Pool
	// routerPool is the router's own worker: a long-lived goroutine rather
	// than protoactor's goroutine per mailbox run, which would grow a fresh
	// stack for every begin and barrier.
	routerPool *mailbox.Pool
	router     *actor.PID
	closed     bool
	halted     error
}

// Start builds the actor system and spawns the router.
func Start(cfg Config) (*System, error) {
	if cfg.Engine == nil || cfg.Factory == nil {
		return nil, errors.New("actors: Config needs an Engine and a Factory")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	log := cfg.Logger
	sys := NewActorSystem(log)
	s := &System{sys: sys, pool: mailbox.NewPool(cfg.Workers, 0), routerPool: mailbox.NewPool(1, 0)}
	r := &router{cfg: cfg, pool: s.pool, members: map[*engine.Agent]*member{}, byPID: map[string]*member{}, slots: map[*engine.Agent]int{},
		events: newEventLog(log)}
	props := actor.PropsFromProducer(func() actor.Actor { return r }, actor.WithDispatcher(s.routerPool))
	pid, err := sys.Root.SpawnNamed(props, "router")
	if err != nil {
		s.pool.Close()
		s.routerPool.Close()
		return nil, fmt.Errorf("actors: spawning the router: %w", err)
	}
	s.router = pid
	return s, nil
}

// Apply hands cmd to the router; it takes effect from the next tick that
// starts after it. It returns the engine's verdict.
func (s *System) Apply(cmd engine.Command) error {
	if s.closed {
		return ErrClosed
	}
	reply := make(chan error, 1)
	s.sys.Root.Send(s.router, &applyMsg{cmd: cmd, reply: reply})
	return <-reply
}

// Step runs one tick and returns its outcome.
func (s *System) Step() (Outcome, error) {
	if s.closed {
		return Outcome{}, ErrClosed
	}
	if s.halted != nil {
		return Outcome{}, s.halted
	}
	reply := make(chan Outcome, 1)
	s.sys.Root.Send(s.router, &tickMsg{reply: reply})
	out := <-reply
	if out.err != nil {
		s.halted = out.err
		return Outcome{}, out.err
	}
	// After a halt the failed agent is neither restarted nor stopped: no
	// further tick could complete.
	s.halted = out.Ready.Halted
	return out, nil
}

// Close stops every agent (calling Shutdown), the router and the workers.
func (s *System) Close() {
	if s.closed {
		return
	}
	s.closed = true
	// Stopping the router stops its children first; Shutdown calls run.
	_ = s.sys.Root.StopFuture(s.router).Wait()
	s.sys.Shutdown()
	s.pool.Close()
	s.routerPool.Close()
}

// NewActorSystem returns a protoactor system that logs through log (its
// lines at debug level): for the runtime's own systems, and those of
// package host/federation.
func NewActorSystem(log *logrus.Logger) *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return protoactorLogger(log)
	}))
}

// ActorSystem is the protoactor system the router and agents live in, for
// the host's other actors (the model manager).
func (s *System) ActorSystem() *actor.ActorSystem { return s.sys }
