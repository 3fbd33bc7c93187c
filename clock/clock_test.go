package clock

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestTickString(t *testing.T) {
	if got := Tick(42).String(); got != "t42" {
		t.Fatalf("Tick(42).String() = %q", got)
	}
}

func TestFreeRunningHonoursContext(t *testing.T) {
	var d FreeRunning
	if err := d.Wait(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := d.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a cancelled context = %v", err)
	}
}

func TestManualGrantsAccumulate(t *testing.T) {
	m := NewManual(2)
	m.Advance()
	m.Advance()
	for i := Tick(0); i < 2; i++ {
		if err := m.Wait(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Wait(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with no grant and a cancelled context = %v", err)
	}
	m.Stop()
	if err := m.Wait(context.Background(), 2); !errors.Is(err, ErrStopped) {
		t.Fatalf("Wait after Stop = %v", err)
	}
}

type fakeTicker struct {
	c       chan time.Time
	stopped bool
}

func (f *fakeTicker) C() <-chan time.Time { return f.c }
func (f *fakeTicker) Stop()               { f.stopped = true }

func TestPacedWaitsForBeats(t *testing.T) {
	ft := &fakeTicker{c: make(chan time.Time, 1)}
	p := NewPacedWithTicker(ft)
	if err := p.Wait(context.Background(), 0); err != nil {
		t.Fatalf("first tick must start at once: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("second tick without a beat = %v, want Canceled", err)
	}
	ft.c <- time.Time{}
	if err := p.Wait(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if !ft.stopped {
		t.Fatal("Close did not stop the ticker")
	}
}

func TestNewPacedRejectsBadRates(t *testing.T) {
	for _, r := range []float64{0, -1, 2e9, math.NaN(), math.Inf(1), math.Inf(-1), 1e-12, math.SmallestNonzeroFloat64, -0.0} {
		if _, err := NewPaced(r); err == nil {
			t.Errorf("NewPaced(%v) accepted", r)
		}
	}
	// The ends of the range: the period fits a time.Duration and is > 0
	// (time.NewTicker panics otherwise).
	for _, r := range []float64{MinRate, MaxRate, 1000} {
		p, err := NewPaced(r)
		if err != nil {
			t.Fatalf("NewPaced(%v): %v", r, err)
		}
		p.Close()
	}
}
