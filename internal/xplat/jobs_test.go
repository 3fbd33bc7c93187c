package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// TestSchedulerOrder: with one slot, jobs run in the order they were
// added among those whose dependencies are done, and a failed job's
// dependents, and theirs, do not run.
func TestSchedulerOrder(t *testing.T) {
	s := newScheduler(context.Background(), 1, func(string, ...any) {})
	var mu sync.Mutex
	var order []string
	mk := func(name string, err error, deps ...*job) *job {
		return s.add(&job{name: name, deps: deps, do: func(context.Context) error {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return err
		}})
	}
	a := mk("a", nil)
	fail := mk("fail", errors.New("boom"))
	c := mk("c", nil, a) // ready after a, before d: added earlier
	d := mk("d", nil)
	skipped := mk("skipped", nil, fail)
	skipped2 := mk("skipped2", nil, skipped, c)
	e := mk("e", nil, c, d)
	s.run()
	if want := []string{"a", "fail", "c", "d", "e"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if skipped.err != errDep || skipped2.err != errDep || e.err != nil || fail.err == nil {
		t.Errorf("errors: skipped %v, skipped2 %v, e %v, fail %v", skipped.err, skipped2.err, e.err, fail.err)
	}
}
