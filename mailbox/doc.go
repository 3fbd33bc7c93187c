// Package mailbox holds an actor's messages back until the tick barrier
// releases them, and runs mailboxes on a bounded pool of workers.
//
// It plugs into protoactor-go: Barrier is an actor.MailboxProducer and Pool
// is an actor.Dispatcher.
//
//	props := actor.PropsFromProducer(newAgent,
//		actor.WithMailbox(mailbox.Barrier),
//		actor.WithDispatcher(pool))
//
// The contract between a sender, the barrier mailbox and the actor:
//
//  1. A user message that implements Held (directly, or wrapped in an
//     *actor.MessageEnvelope) is stored, not delivered, and does not wake the
//     actor. Its BarrierKey is read once, when it is posted.
//  2. Every other user message is delivered in post order (FIFO), like
//     protoactor's default mailbox. System messages go before user messages;
//     *actor.SuspendMailbox and *actor.ResumeMailbox are handled by the
//     mailbox itself, and while suspended only system messages are delivered.
//  3. When the user message being delivered implements Release with tick T,
//     the mailbox first delivers every held message whose Key.Tick <= T,
//     sorted by Key (Tick, then Rank, then Seq; equal keys in post order),
//     and then the Release message itself. Held messages for later ticks stay
//     held. A release is delivered as one unit: system messages posted while
//     it runs are delivered after its Release message.
//  4. Held messages are delivered exactly as posted, envelope included,
//     except a Keyed (or *Keyed): it is delivered as its Message, in an
//     envelope with the same header and sender if it came in one. Keyed
//     holds messages of any type; EndOfTick is a ready-made Release.
//  5. A panic while delivering a message is recovered and reported with
//     invoker.EscalateFailure(reason, message), naming the message that
//     panicked. If it was part of a release for tick T, the rest of that
//     release (the remaining held messages of the batch and the Release
//     message) is dropped: they belong to the failed tick. Messages held for
//     later ticks, and queued plain messages, are kept for the next
//     incarnation. (protoactor's EscalateFailure posts SuspendMailbox to the
//     failing actor; a restart posts ResumeMailbox.)
//  6. A held message posted while a release for tick T is running is not
//     part of that release, even if its Tick <= T; the next release delivers
//     it.
//  7. UserMessageCount is the number of queued plain messages plus held
//     messages (a gauge: see its documentation).
//
// The barrier mailbox does not unpack actor.MessageBatch and ignores mailbox
// middlewares.
//
// Tests drive actors with barrier mailboxes without goroutines or sleeps
// on the deterministic dispatcher of package sdk/agenttest.
//
// A Pool runs scheduled functions on a fixed number of worker goroutines
// taken from an unbounded FIFO queue:
//
//  1. NewPool starts the workers.
//  2. Schedule queues a function and never blocks; it may be called from any
//     goroutine, a worker included. At most Workers functions run at once.
//  3. Close waits until the queue is empty and no function is running
//     (functions scheduled meanwhile, from workers or elsewhere, still run),
//     then stops the workers. Schedule after Close panics with ErrPoolClosed.
//     Close must not be called from a scheduled function.
//
// A panic in a scheduled function is not recovered (as with a plain
// goroutine); mailbox runs recover their own panics.
package mailbox
