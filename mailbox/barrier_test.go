package mailbox

import (
	"fmt"
	"strings"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cockroachdb/datadriven"
)

// Test messages. Their names make the invocation log readable.
type (
	testHeld struct {
		name string
		key  Key
	}
	testRelease struct{ tick uint64 }
	testPlain   struct{ name string }
	testSystem  struct{ name string }
)

func (m testHeld) BarrierKey() Key        { return m.key }
func (m testRelease) ReleaseTick() uint64 { return m.tick }

// describe renders a message for the invocation log.
func describe(m any) string {
	switch m := m.(type) {
	case *actor.MessageEnvelope:
		return "env(" + describe(m.Message) + ")"
	case testHeld:
		return fmt.Sprintf("%s@%s", m.name, m.key)
	case testRelease:
		return fmt.Sprintf("release(%d)", m.tick)
	case testPlain:
		return m.name
	case testSystem:
		return m.name
	case Keyed:
		return fmt.Sprintf("keyed(%s@%s)", describe(m.Message), m.Key)
	case *Keyed:
		return fmt.Sprintf("*keyed(%s@%s)", describe(m.Message), m.Key)
	case EndOfTick:
		return fmt.Sprintf("end-of-tick(%d)", m.Tick)
	case nil:
		return "<nil>"
	default:
		return fmt.Sprintf("%T", m)
	}
}

// baseName is the name panic-on and on match: the message's own name, or
// "release" for a Release.
func baseName(m any) string {
	switch m := actor.UnwrapEnvelopeMessage(m).(type) {
	case testHeld:
		return m.name
	case testRelease, EndOfTick:
		return "release"
	case testPlain:
		return m.name
	case testSystem:
		return m.name
	default:
		return ""
	}
}

// recorder is a fake actor.MessageInvoker that logs every call. Like
// protoactor's actor context, its EscalateFailure posts SuspendMailbox to the
// failing mailbox.
type recorder struct {
	mb      actor.Mailbox
	log     []string
	panicOn map[string]bool
	on      map[string][]any // messages to post when a message is invoked
}

var _ actor.MessageInvoker = (*recorder)(nil)

func (r *recorder) invoke(kind string, m any) {
	r.log = append(r.log, kind+" "+describe(m))
	name := baseName(m)
	r.react(name)
	if r.panicOn[name] {
		panic("boom on " + name)
	}
}

// react posts what "on name=..." asked for.
func (r *recorder) react(name string) {
	for _, post := range r.on[name] {
		if s, ok := post.(testSystem); ok {
			r.mb.PostSystemMessage(s)
		} else {
			r.mb.PostUserMessage(post)
		}
	}
}

func (r *recorder) InvokeUserMessage(m any)   { r.invoke("user", m) }
func (r *recorder) InvokeSystemMessage(m any) { r.invoke("system", m) }

func (r *recorder) EscalateFailure(reason, m any) {
	r.log = append(r.log, fmt.Sprintf("escalate reason=%q msg=%s", reason, describe(m)))
	r.mb.PostSystemMessage(&actor.SuspendMailbox{})
	r.react("escalate")
}

// TestBarrierDataDriven runs the scripts in testdata against a barrier
// mailbox on a synchronized dispatcher, so that every post runs the mailbox
// to completion before returning. Commands:
//
//	post-held name=a tick=1 [rank=0] [seq=0] [envelope]  post a Held message
//	post name=b [envelope]                               post a plain user message
//	post-keyed name=c tick=1 [rank=0] [seq=0] [pointer] [envelope]
//	                                                     post a Keyed (or *Keyed) plain message
//	release tick=1 [envelope]                            post a Release message
//	end-of-tick tick=1                                   post an EndOfTick
//	system name=x                                        post a system message
//	suspend | resume                                     post SuspendMailbox / ResumeMailbox
//	panic-on name=a                                      the invoker panics on a (or "release")
//	on name=a post=b | system=x | release=2 | held=c tick=.. rank=.. seq=..
//	                                                     when a is invoked (or, for
//	                                                     name=escalate, on EscalateFailure),
//	                                                     post that
//
// Each command prints the invoker calls it caused, then UserMessageCount.
func TestBarrierDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		r := &recorder{panicOn: map[string]bool{}, on: map[string][]any{}}
		r.mb = NewBarrier()
		// A throughput of 2 makes runs yield often, exercising that path.
		r.mb.RegisterHandlers(r, actor.NewSynchronizedDispatcher(2))
		r.mb.Start()

		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			r.log = r.log[:0]
			switch d.Cmd {
			case "post-held":
				r.mb.PostUserMessage(wrap(d, scanHeld(t, d, "name")))
			case "post":
				var name string
				d.ScanArgs(t, "name", &name)
				r.mb.PostUserMessage(wrap(d, testPlain{name}))
			case "post-keyed":
				h := scanHeld(t, d, "name")
				var k any = Keyed{Key: h.key, Message: testPlain{h.name}}
				if d.HasArg("pointer") {
					k = &Keyed{Key: h.key, Message: testPlain{h.name}}
				}
				r.mb.PostUserMessage(wrap(d, k))
			case "release":
				var tick uint64
				d.ScanArgs(t, "tick", &tick)
				r.mb.PostUserMessage(wrap(d, testRelease{tick}))
			case "end-of-tick":
				var tick uint64
				d.ScanArgs(t, "tick", &tick)
				r.mb.PostUserMessage(EndOfTick{tick})
			case "system":
				var name string
				d.ScanArgs(t, "name", &name)
				r.mb.PostSystemMessage(testSystem{name})
			case "suspend":
				r.mb.PostSystemMessage(&actor.SuspendMailbox{})
			case "resume":
				r.mb.PostSystemMessage(&actor.ResumeMailbox{})
			case "panic-on":
				var name string
				d.ScanArgs(t, "name", &name)
				r.panicOn[name] = true
			case "on":
				var name, s string
				var tick uint64
				d.ScanArgs(t, "name", &name)
				switch {
				case d.MaybeScanArgs(t, "post", &s):
					r.on[name] = append(r.on[name], testPlain{s})
				case d.MaybeScanArgs(t, "system", &s):
					r.on[name] = append(r.on[name], testSystem{s})
				case d.MaybeScanArgs(t, "release", &tick):
					r.on[name] = append(r.on[name], testRelease{tick})
				case d.HasArg("held"):
					r.on[name] = append(r.on[name], scanHeld(t, d, "held"))
				default:
					d.Fatalf(t, "on needs post=, system=, release= or held=")
				}
			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			var out strings.Builder
			for _, line := range r.log {
				out.WriteString(line + "\n")
			}
			fmt.Fprintf(&out, "count=%d\n", r.mb.UserMessageCount())
			return out.String()
		})
	})
}

func scanHeld(t *testing.T, d *datadriven.TestData, nameArg string) testHeld {
	var m testHeld
	d.ScanArgs(t, nameArg, &m.name)
	d.ScanArgs(t, "tick", &m.key.Tick)
	d.MaybeScanArgs(t, "rank", &m.key.Rank)
	d.MaybeScanArgs(t, "seq", &m.key.Seq)
	return m
}

func wrap(d *datadriven.TestData, m any) any {
	if d.HasArg("envelope") {
		return &actor.MessageEnvelope{Message: m}
	}
	return m
}

func TestKeyOrder(t *testing.T) {
	keys := []Key{{0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {1, 0, 0}, {1, 0, 5}, {1, 2, 0}, {2, 0, 0}}
	for i, a := range keys {
		for j, b := range keys {
			if got, want := a.Less(b), i < j; got != want {
				t.Errorf("%v.Less(%v) = %v, want %v", a, b, got, want)
			}
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%v.Compare(%v) = %d, want %d", a, b, got, want)
			}
		}
	}
}

// TestFIFOMatchesSlice checks the ring buffer against a plain slice through
// pushes and pops that wrap around and grow the buffer.
func TestFIFOMatchesSlice(t *testing.T) {
	var q fifo[int]
	var model []int
	v := 0
	for round := range 200 {
		for range round % 13 {
			q.push(v)
			model = append(model, v)
			v++
		}
		for range round % 7 {
			got, ok := q.pop()
			if len(model) == 0 {
				if ok {
					t.Fatalf("round %d: pop on empty queue returned %d", round, got)
				}
				continue
			}
			if !ok || got != model[0] {
				t.Fatalf("round %d: pop = %d, %v; want %d, true", round, got, ok, model[0])
			}
			model = model[1:]
		}
		if q.len() != len(model) {
			t.Fatalf("round %d: len = %d, want %d", round, q.len(), len(model))
		}
	}
}
