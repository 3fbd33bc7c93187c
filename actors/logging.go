package actors

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/sirupsen/logrus"
	logrusslog "github.com/sirupsen/logrus/hooks/slog"

	"github.com/lockstep-rt/lockstep/clock"
	"github.com/lockstep-rt/lockstep/internal/engine"
)

// protoactorLogger routes protoactor's own log lines (its slog output) to
// log at debug level: they speak of actors and PIDs ("[ACTOR] Recovering
// self=…" for every agent failure), which the barrier's own lines say
// better. Its errors, which mean something is wrong with the actor system
// itself, come out as warnings. Each line has the field from=protoactor.
func protoactorLogger(log *logrus.Logger) *slog.Logger {
	h := logrusslog.NewHandler(log, &logrusslog.HandlerOptions{LevelMapper: func(l slog.Level) logrus.Level {
		if l >= slog.LevelError {
			return logrus.WarnLevel
		}
		return logrus.DebugLevel
	}})
	return slog.New(h.WithAttrs([]slog.Attr{slog.String("from", "protoactor")}))
}

// Limits of the barrier's failure lines (eventLog).
const (
	// FailureLinesPerTick is the most failure lines one tick logs; the
	// rest are counted in one line "… and K more failures".
	FailureLinesPerTick = 8
	// FailureLinesPerAgent is the most failure lines of one agent within
	// FailureLogWindow ticks; its further failures are counted, and the
	// count is in its next line.
	FailureLinesPerAgent = 3
	// FailureLogWindow is the window of FailureLinesPerAgent, in ticks.
	FailureLogWindow = 100
)

// eventLog logs a tick's supervision events at its barrier, in the
// events' (canonical) order: each failure as one warning line with the
// agent, the tick, the phase and the reason (the event's detail) and the
// failure's wasm stack trace, if any; restarts, stops and escalations at
// info; a halt at error; dead letters at debug. Failure lines are rate
// limited (FailureLinesPerTick, FailureLinesPerAgent), so that a crash loop
// or a mass failure cannot flood the log; which lines are logged depends
// only on the run's events, never on timing. Every event, logged or not,
// is in the tick's result and the replay log.
type eventLog struct {
	log    *logrus.Logger
	agents map[string]*agentLines
}

// agentLines is what eventLog remembers of one agent's failure lines.
type agentLines struct {
	logged     []clock.Tick // ticks of its lines within the window
	suppressed int          // failures not logged since the last line
	since      clock.Tick   // the first of them
}

func newEventLog(log *logrus.Logger) *eventLog {
	return &eventLog{log: log, agents: map[string]*agentLines{}}
}

// tick logs the events of ready.
func (l *eventLog) tick(ready *engine.Ready) {
	t := ready.Tick
	lines, more, infos, moreInfos := 0, 0, 0, 0
	for _, e := range ready.Events {
		fields := logrus.Fields{"agent": e.Agent, "tick": uint64(t), "event": e.Kind.String()}
		switch e.Kind {
		case engine.EventFailed:
			if lines >= FailureLinesPerTick {
				more++
				continue
			}
			if msg, ok := l.failure(t, e); ok {
				lines++
				if e.Trace != "" {
					fields["wasm_stack"] = strings.ReplaceAll(e.Trace, "\n", " <- ")
				}
				l.log.WithFields(fields).Warn(msg)
			}
		case engine.EventRestarted, engine.EventStopped, engine.EventEscalated:
			if e.Kind == engine.EventStopped {
				delete(l.agents, e.Agent)
			}
			if !l.log.IsLevelEnabled(logrus.InfoLevel) {
				continue
			}
			if infos >= FailureLinesPerTick {
				moreInfos++
				continue
			}
			infos++
			l.log.WithFields(fields).Info(supervisionText(t, e))
		case engine.EventHalted:
			text := e.Detail
			if ready.Halted != nil {
				text = ready.Halted.Error()
			}
			l.log.WithFields(fields).Error(text)
		default:
			if l.log.IsLevelEnabled(logrus.DebugLevel) {
				l.log.WithFields(fields).Debug(fmt.Sprintf("%s of %q at %s: %s", e.Kind, e.Agent, t, e.Detail))
			}
		}
	}
	if more > 0 {
		l.log.WithFields(logrus.Fields{"tick": uint64(t), "event": "failed"}).Warn(fmt.Sprintf(
			"… and %d more %s at %s (at most %d failure lines a tick are logged; every failure is an event of the tick's result and of the replay log)",
			more, plural(more, "failure", "failures"), t, FailureLinesPerTick))
	}
	if moreInfos > 0 {
		l.log.WithFields(logrus.Fields{"tick": uint64(t)}).Info(fmt.Sprintf("… and %d more supervision %s at %s", moreInfos, plural(moreInfos, "event", "events"), t))
	}
}

// failure returns the line of failure e at t, or false when the agent is
// over FailureLinesPerAgent (the failure is then counted for its next line).
func (l *eventLog) failure(t clock.Tick, e engine.Event) (string, bool) {
	a := l.agents[e.Agent]
	if a == nil {
		a = &agentLines{}
		l.agents[e.Agent] = a
	}
	keep := a.logged[:0]
	for _, at := range a.logged {
		if at+FailureLogWindow > t {
			keep = append(keep, at)
		}
	}
	a.logged = keep
	if len(a.logged) >= FailureLinesPerAgent {
		if a.suppressed == 0 {
			a.since = t
		}
		a.suppressed++
		return "", false
	}
	a.logged = append(a.logged, t)
	msg := e.Detail
	if a.suppressed > 0 {
		msg += fmt.Sprintf(" (%d earlier %s of %q since %s not logged)", a.suppressed, plural(a.suppressed, "failure", "failures"), e.Agent, a.since)
		a.suppressed = 0
	}
	if len(a.logged) == FailureLinesPerAgent {
		msg += fmt.Sprintf(" (its next failures within %d ticks are counted, not logged)", FailureLogWindow)
	}
	return msg, true
}

func supervisionText(t clock.Tick, e engine.Event) string {
	switch e.Kind {
	case engine.EventRestarted:
		return fmt.Sprintf("agent %q restarted at %s: a fresh instance starts at the next tick", e.Agent, t)
	case engine.EventStopped:
		return fmt.Sprintf("agent %q stopped at %s", e.Agent, t)
	}
	return fmt.Sprintf("group %q escalated at %s: %s", e.Agent, t, e.Detail)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
