package mailbox

import "fmt"

// Key orders held messages: by Tick, then Rank, then Seq (lexicographic).
type Key struct {
	// Tick is the tick the message is to be delivered in.
	Tick uint64
	// Rank orders messages of one tick, for example by sender.
	Rank uint64
	// Seq orders messages of one tick and rank, for example by emission.
	Seq uint64
}

// Less reports whether k sorts before o.
func (k Key) Less(o Key) bool {
	if k.Tick != o.Tick {
		return k.Tick < o.Tick
	}
	if k.Rank != o.Rank {
		return k.Rank < o.Rank
	}
	return k.Seq < o.Seq
}

// Compare returns -1, 0 or +1 as k sorts before, equal to or after o.
func (k Key) Compare(o Key) int {
	switch {
	case k.Less(o):
		return -1
	case o.Less(k):
		return 1
	default:
		return 0
	}
}

// String formats the key as "tick/rank/seq".
func (k Key) String() string { return fmt.Sprintf("%d/%d/%d", k.Tick, k.Rank, k.Seq) }

// Held is implemented by user messages the barrier mailbox holds back until a
// Release for their tick (or a later one) arrives.
type Held interface {
	// BarrierKey returns the message's place in the canonical order. It is
	// called once, when the message is posted.
	BarrierKey() Key
}

// Release is implemented by the user message that opens the barrier for a
// tick.
type Release interface {
	// ReleaseTick returns the tick T: held messages with Key.Tick <= T are
	// delivered before the Release message itself. It is called once, when
	// the message is taken from the queue, with the mailbox locked: it must
	// not post to the mailbox.
	ReleaseTick() uint64
}

// Keyed is a held message for messages that do not implement Held
// themselves: the barrier mailbox holds it with Key and, at the release,
// delivers Message in its place (in an *actor.MessageEnvelope with the
// same header and sender, if the Keyed came in one). A *Keyed works the
// same way.
//
//	ctx.Send(pid, mailbox.Keyed{Key: mailbox.Key{Tick: 3}, Message: "hello"})
type Keyed struct {
	Key     Key
	Message any
}

// BarrierKey implements Held.
func (k Keyed) BarrierKey() Key { return k.Key }

// EndOfTick is a Release for actors whose messages need no other release
// type: posted as a plain user message, it delivers every held message
// with Key.Tick <= Tick and is then delivered itself, so that the actor
// sees the end of its tick (the moment to act on the tick's messages).
type EndOfTick struct{ Tick uint64 }

// ReleaseTick implements Release.
func (e EndOfTick) ReleaseTick() uint64 { return e.Tick }
