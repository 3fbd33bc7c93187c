// Package clock owns Lockstep's logical time.
//
// Time in a Lockstep run is a Tick: a counter that the host advances once per
// barrier. Agents see only ticks; wall-clock time never reaches anything an
// agent can observe. What wall-clock time may decide is *when* the next tick
// starts, and that is the job of a Driver:
//
//  1. Manual: a tick starts each time the caller says so (tests, debuggers).
//  2. FreeRunning: the next tick starts as soon as the previous one is done.
//  3. Paced: at most N ticks per second, for runs that face the real world.
//
// A host asks its driver before each tick with Wait; the driver returns when
// the tick may start, or with an error when the run must stop. Drivers decide
// timing only, so a run gives the same digests under every driver.
package clock

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Tick is one step of logical time. The first tick of a run is 0.
type Tick uint64

// String formats the tick as "t42".
func (t Tick) String() string { return fmt.Sprintf("t%d", uint64(t)) }

// Driver decides when the next tick may start. It is used by one goroutine
// at a time.
type Driver interface {
	// Wait blocks until tick t may start, or returns ctx.Err() (or another
	// error that ends the run).
	Wait(ctx context.Context, t Tick) error
}

// ErrStopped is returned by a Manual driver's Wait after Stop.
var ErrStopped = errors.New("clock: driver stopped")

// FreeRunning starts every tick as soon as it is asked.
type FreeRunning struct{}

// Wait returns at once unless ctx is done.
func (FreeRunning) Wait(ctx context.Context, _ Tick) error { return ctx.Err() }

// Manual starts a tick each time Advance is called. Advance may be called
// before Wait: grants accumulate.
type Manual struct {
	grants chan struct{}
	stop   chan struct{}
}

// NewManual returns a Manual driver with room for capacity outstanding
// grants (at least 1).
func NewManual(capacity int) *Manual {
	if capacity < 1 {
		capacity = 1
	}
	return &Manual{grants: make(chan struct{}, capacity), stop: make(chan struct{})}
}

// Advance grants one more tick. It blocks while capacity grants are
// outstanding.
func (m *Manual) Advance() { m.grants <- struct{}{} }

// Stop makes every pending and future Wait return ErrStopped. Call it once.
func (m *Manual) Stop() { close(m.stop) }

// Wait blocks until a grant is available.
func (m *Manual) Wait(ctx context.Context, _ Tick) error {
	select {
	case <-m.grants:
		return nil
	case <-m.stop:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ticker is the part of *time.Ticker a Paced driver uses; tests inject their
// own.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Paced starts at most Rate ticks per second. The first tick starts at once;
// each later tick waits for the next beat of its ticker. Beats missed while a
// tick ran long are dropped, not queued (time.Ticker's behaviour), so a slow
// tick never causes a burst.
type Paced struct {
	ticker  Ticker
	started bool
}

// The rates a Paced driver accepts, in ticks per second. MaxRate is one
// tick a nanosecond, the ticker's resolution; at MinRate a tick waits about
// 31.7 years, still well inside a time.Duration (292 years), so the period
// never overflows.
const (
	MinRate = 1e-9
	MaxRate = 1e9
)

// NewPaced returns a driver for rate ticks per second, MinRate <= rate <=
// MaxRate. NaN, infinities, zero and negative rates are refused.
func NewPaced(rate float64) (*Paced, error) {
	switch {
	case math.IsNaN(rate):
		return nil, fmt.Errorf("clock: pace NaN is not a number: give a rate in [%g, %g] ticks/s", MinRate, MaxRate)
	case math.IsInf(rate, 0):
		return nil, fmt.Errorf("clock: pace %v ticks/s is infinite: give a rate in [%g, %g] ticks/s", rate, MinRate, MaxRate)
	case rate < MinRate || rate > MaxRate:
		return nil, fmt.Errorf("clock: pace %v ticks/s is out of range: give a rate in [%g, %g] ticks/s", rate, MinRate, MaxRate)
	}
	return NewPacedWithTicker(stdTicker{time.NewTicker(time.Duration(float64(time.Second) / rate))}), nil
}

// NewPacedWithTicker returns a driver paced by t; it owns t and stops it in
// Close.
func NewPacedWithTicker(t Ticker) *Paced { return &Paced{ticker: t} }

// Wait returns at once for the first tick, then on each beat.
func (p *Paced) Wait(ctx context.Context, _ Tick) error {
	if !p.started {
		p.started = true
		return ctx.Err()
	}
	select {
	case <-p.ticker.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the ticker.
func (p *Paced) Close() { p.ticker.Stop() }

type stdTicker struct{ t *time.Ticker }

func (s stdTicker) C() <-chan time.Time { return s.t.C }
func (s stdTicker) Stop()               { s.t.Stop() }
