package modelactor

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// group is the requests of one run for one model version.
type group struct {
	e   *entry
	idx []int // positions in the run's requests
	n   int   // how many (while newTick counts them)
	// model and version are as the last request resolved to e asked
	// (version "" for the default one).
	model, version string
	// enc holds the group's encoded answers of single runs
	// (Manager.RunEncoded); only the model's worker touches it.
	enc []byte
}

// groupReserve bounds the room encode reserves for a group's answers.
const groupReserve = 64 << 10

// encode returns r's wire form, cut from g's buffer: when it has no room,
// a new one is made with room for every answer of g as large as r (up to
// groupReserve), so that the answers of a model that runs its requests one
// by one share an allocation or two per tick.
func (g *group) encode(r tensor.Result) []byte {
	n := r.EncodedSize()
	if cap(g.enc)-len(g.enc) < n {
		room := n
		if all := n * len(g.idx); all <= groupReserve {
			room = all
		}
		g.enc = make([]byte, 0, room)
	}
	at := len(g.enc)
	g.enc = r.AppendEncode(g.enc)
	return g.enc[at:len(g.enc):len(g.enc)]
}

// tick is one Manager.Run in progress: its results, filled in by the
// models' workers, go to reply when the last group is done.
type tick struct {
	reqs   []Request
	groups []*group // the requests by model version, in order of first request
	res    []tensor.Result
	// enc, when not nil (Manager.RunEncoded), gets the answers encoded
	// instead, and res is nil.
	enc [][]byte
	// byEntry is the position of each model's group in groups, once
	// there are many (groupOf).
	byEntry map[*entry]int32
	// first, groupBuf and drainBuf hold the first group, groups and
	// the workers to drain of a tick for one model: no allocation of
	// their own.
	first    group
	groupBuf [1]*group
	drainBuf [1]*work
	// buf holds the requests' groups and their positions in each group
	// (newTick); it stays with the tick when the tick is kept for the next
	// Run (manager.spare).
	buf  []int
	at   time.Time
	left atomic.Int64
	// reply gets the answers; made once, it stays with the tick.
	reply chan []tensor.Result
}

// tickKeep bounds the buffer a tick kept for the next Run keeps: room for
// the groups and positions of 8192 requests (128 KiB).
const tickKeep = 1 << 14

// release keeps t, whose Run has its answers, for the next Run, letting go
// of everything of this one's but its reply channel and its buffer (unless
// a large tick grew it past tickKeep).
func (a *manager) release(t *tick) {
	buf := t.buf
	if cap(buf) > tickKeep {
		buf = nil
	}
	*t = tick{buf: buf, reply: t.reply}
	a.spare.Store(t)
}

// set answers request i with r.
func (t *tick) set(i int, r tensor.Result) {
	if t.enc != nil {
		t.enc[i] = r.Encode()
		return
	}
	t.res[i] = r
}

// done ends one group; the last one replies.
func (t *tick) done() {
	if t.left.Add(-1) == 0 {
		t.reply <- t.res
	}
}

// newTick resolves a Run's requests (the registry does not change once
// the manager has started, so any goroutine may) and groups them by model
// version, in request order; a request that resolves to no model is
// answered at once. The answers go to t.reply, in request order, when every
// group is done.
func (a *manager) newTick(reqs []Request, enc [][]byte, at time.Time) *tick {
	t := a.spare.Swap(nil)
	if t == nil {
		t = &tick{reply: make(chan []tensor.Result, 1)}
	}
	t.reqs, t.enc, t.at = reqs, enc, at
	if t.enc == nil {
		t.res = make([]tensor.Result, len(reqs))
	}
	// Each request's group (-1: none) first, then every group's positions
	// cut from one buffer, kept with the tick: no allocation of their own.
	if cap(t.buf) < 2*len(reqs) {
		t.buf = make([]int, 2*len(reqs))
	}
	buf := t.buf[:2*len(reqs)]
	of, idx := buf[:len(reqs)], buf[len(reqs):len(reqs)]
	last := -1 // a tick's requests for one model tend to come together
	for i, q := range reqs {
		if last >= 0 && q.Model == t.groups[last].model && q.Version == t.groups[last].version {
			of[i] = last
			t.groups[last].n++
			continue
		}
		e, f := a.reg.resolve(q.Model, q.Version)
		if f != nil {
			t.set(i, tensor.Failure(q.Request, f.status, "%s", f.msg))
			of[i] = -1
			continue
		}
		k := int(t.groupOf(e))
		g := t.groups[k]
		of[i], last = k, k
		g.n++
		g.model, g.version = q.Model, q.Version
	}
	for _, g := range t.groups {
		g.idx = idx[len(idx) : len(idx) : len(idx)+g.n]
		idx = idx[:len(idx)+g.n]
	}
	for i, k := range of {
		if k >= 0 {
			t.groups[k].idx = append(t.groups[k].idx, i)
		}
	}
	t.left.Store(int64(len(t.groups)) + 1)
	return t
}

// groupOf returns the position of e's group in t.groups, which it adds
// if there is none: a tick's requests name few models (a linear search)
// until they name more than fewGroups (a map).
func (t *tick) groupOf(e *entry) int32 {
	if t.byEntry != nil {
		if k, ok := t.byEntry[e]; ok {
			return k
		}
	} else {
		for k, g := range t.groups {
			if g.e == e {
				return int32(k)
			}
		}
	}
	k := int32(len(t.groups))
	if k == 0 {
		t.first = group{e: e}
		t.groups = append(t.groupBuf[:0], &t.first)
	} else {
		t.groups = append(t.groups, &group{e: e})
	}
	switch {
	case t.byEntry != nil:
		t.byEntry[e] = k
	case len(t.groups) > fewGroups:
		t.byEntry = make(map[*entry]int32, 2*len(t.groups))
		for k, g := range t.groups {
			t.byEntry[g.e] = int32(k)
		}
	}
	return k
}

// fewGroups is how many models a tick's requests name before newTick
// looks their groups up in a map.
const fewGroups = 8

// dispatch answers a Run in the actor: it loads the tick's models and
// hands each group to its model's worker; the model workers that need a
// goroutine go back to the caller to drain.
func (a *manager) dispatch(m *runMsg) {
	t := m.t
	drains := t.drainBuf[:0]
	for _, g := range t.groups {
		e := g.e
		hit := e.sess != nil
		f := a.safeLoad(e)
		countRequests(e, len(g.idx), hit)
		if f != nil {
			a.failGroup(t, g, f)
			t.done()
			continue
		}
		if a.handOut(t, g) {
			drains = append(drains, &e.work)
		}
	}
	t.done()
	m.reply <- drains
}

// dispatchLoaded is dispatch for a tick whose models are all loaded, in
// the caller's goroutine, without the actor; it does nothing and returns
// false when one is not (then the actor must load it). It holds a.live, so
// that no session it hands a run to is evicted before the run is queued.
func (a *manager) dispatchLoaded(t *tick) ([]*work, bool) {
	a.live.RLock()
	defer a.live.RUnlock()
	for _, g := range t.groups {
		if g.e.sess == nil {
			return nil, false
		}
	}
	drains := t.drainBuf[:0]
	for _, g := range t.groups {
		a.touch(g.e)
		countRequests(g.e, len(g.idx), true)
		if a.handOut(t, g) {
			drains = append(drains, &g.e.work)
		}
	}
	t.done()
	return drains, true
}

// countRequests counts a group of n requests for e, which was loaded
// (hit) or had to load: one miss, and the group's other requests hits.
func countRequests(e *entry, n int, hit bool) {
	e.count(func(s *stats) {
		s.Requests += uint64(n)
		if hit {
			s.Hits += uint64(n)
		} else {
			s.Misses++
			s.Hits += uint64(n - 1)
		}
	})
}

// handOut queues g's requests on its model's worker, with the model's
// session, and reports whether the worker needs a goroutine (enqueue).
// The caller is the actor, or holds a.live.
func (a *manager) handOut(t *tick, g *group) bool {
	return a.enqueue(g.e, job{t: t, g: g, sess: g.e.sess, batch: g.e.batch})
}

// fail answers request i of t, for e, with f.
func (a *manager) fail(t *tick, e *entry, i int, f *failure) {
	r := tensor.Failure(t.reqs[i].Request, f.status, "%s", f.msg)
	r.Flags = a.flags(e) // a recorded model's failures are recorded too
	t.set(i, r)
	e.count(func(s *stats) { s.Errors++ })
}

func (a *manager) failGroup(t *tick, g *group, f *failure) {
	for _, i := range g.idx {
		a.fail(t, g.e, i, f)
	}
}

// safeServe is serve, except that a panic (a backend bug) fails the
// group's requests instead of leaving the caller waiting for an answer
// that never comes.
func (a *manager) safeServe(t *tick, g *group, sess Session, batch int) {
	defer func() {
		if p := recover(); p != nil {
			a.cfg.Logger.WithField("model", g.e.model.Key()).Errorf("modelactor: panic while serving %d requests: %v", len(g.idx), p)
			a.failGroup(t, g, &failure{tensor.RunFailed, fmt.Sprintf("model %s: the model manager failed serving this tick's requests: %v", g.e.model.Key(), p)})
		}
	}()
	a.serve(t, g, sess, batch)
}

// serve runs the group's requests on sess, on the model's worker, at most
// batch (0: 1) to a run.
func (a *manager) serve(t *tick, g *group, sess Session, batch int) {
	e := g.e
	sc := &e.work.scratch
	ok, ins := sc.ok[:0], sc.ins[:0]
	defer func() {
		// The inputs are done with once the runs are: drop them, and keep
		// the memory for the next tick.
		clear(ins) // and what is past it is clear since the last tick
		sc.dec.Reset()
		sc.ok, sc.ins = ok[:0], ins[:0]
		sc.like, sc.likeTs = nil, nil
	}()
	for _, i := range g.idx {
		ts, f := sc.inputs(e, sess, &t.reqs[i])
		if f != nil {
			a.fail(t, e, i, f)
			continue
		}
		ok = append(ok, i)
		ins = append(ins, ts)
	}
	left, lins := ok, ins
	for len(left) > 0 {
		// The longest run of requests, from the first left, that can share
		// one batch; a request alone runs by itself.
		take := 1
		if batch > 1 && rowsAgree(lins[0]) {
			for take < len(left) && take < batch && joinable(lins[0], lins[take]) {
				take++
			}
		}
		var f *failure
		if take == 1 {
			f = a.single(g, sess, t, left[0], lins[0])
		} else {
			f = a.batch(e, sess, t, left[:take], lins[:take])
		}
		if f != nil {
			for _, i := range left[:take] {
				a.fail(t, e, i, f)
			}
		}
		left, lins = left[take:], lins[take:]
	}
}

func (a *manager) flags(e *entry) tensor.Flags {
	if e.model.Recorded() {
		return tensor.Recorded
	}
	return 0
}

// timedRun runs the session for requests requests, which have waited since
// since (their Manager.Run call), and accounts for it.
func (a *manager) timedRun(e *entry, sess Session, in []tensor.Tensor, requests int, since time.Time) ([]tensor.Tensor, *failure) {
	start := time.Now()
	out, err := sess.Run(in)
	d, wait := time.Since(start), start.Sub(since)
	e.count(func(s *stats) {
		s.RunTime += d
		s.Runs++
		s.runSeconds.observeDuration(d, 1)
		s.batchSize.observe(batchBuckets, float64(requests), 1)
		s.queueSeconds.observeDuration(wait, requests)
	})
	if err != nil {
		return nil, &failure{tensor.RunFailed, fmt.Sprintf("model %s: ONNX Runtime: %v", e.model.Key(), err)}
	}
	return out, nil
}

// overLimit says why outs, one request's outputs, are over the
// per-request limit, or returns nil.
func (a *manager) overLimit(e *entry, outs []tensor.Tensor) *failure {
	var n int64
	for _, o := range outs {
		n += o.Size()
	}
	return a.overLimitBytes(e, n)
}

// share is the bytes of n of a batch's outputs' total rows (out, dense).
func share(out []tensor.Tensor, total, n int64) int64 {
	var b int64
	for _, o := range out {
		b += int64(len(o.Data)) / total * n
	}
	return b
}

// overLimitBytes says why n bytes of one request's outputs are over the
// per-request limit, or returns nil.
func (a *manager) overLimitBytes(e *entry, n int64) *failure {
	if n <= a.cfg.MaxOutputBytes {
		return nil
	}
	return &failure{tensor.RunFailed, fmt.Sprintf("model %s: ONNX Runtime: %v: %d bytes of outputs for this request, the limit is %d; ask for fewer rows, or raise the limit (inference.max_output_bytes)", e.model.Key(), ErrOutputTooLarge, n, a.cfg.MaxOutputBytes)}
}

func (a *manager) single(g *group, sess Session, t *tick, i int, in []tensor.Tensor) *failure {
	e := g.e
	out, f := a.timedRun(e, sess, in, 1, t.at)
	if f == nil {
		f = a.overLimit(e, out)
	}
	if f != nil {
		return f
	}
	r := tensor.Result{Request: t.reqs[i].Request, Flags: a.flags(e), Outputs: out}
	if t.enc != nil {
		t.enc[i] = g.encode(r)
	} else {
		r.Outputs = own(out)
		t.res[i] = r
	}
	return nil
}

// own returns a copy of outs, a session's outputs (valid until its next
// run), for the caller to keep: the data of every output in one
// allocation, their shapes in another.
func own(outs []tensor.Tensor) []tensor.Tensor {
	data, dims := 0, 0
	for _, o := range outs {
		data += len(o.Data)
		dims += len(o.Shape)
	}
	bytes, shapes := make([]byte, 0, data), make([]int64, 0, dims)
	mine := make([]tensor.Tensor, len(outs))
	for i, o := range outs {
		t := tensor.Tensor{Kind: o.Kind, DType: o.DType}
		if o.Shape != nil {
			at := len(shapes)
			shapes = append(shapes, o.Shape...)
			t.Shape = shapes[at:len(shapes):len(shapes)]
		}
		if o.Data != nil {
			at := len(bytes)
			bytes = append(bytes, o.Data...)
			t.Data = bytes[at:len(bytes):len(bytes)]
		}
		if o.Elems != nil {
			t.Elems = own(o.Elems)
		}
		mine[i] = t
	}
	return mine
}

// batch runs requests (positions idx, inputs ins) as one run, concatenated
// along the leading dimension in order, and splits the outputs back; a
// request whose share is over the limit fails alone.
func (a *manager) batch(e *entry, sess Session, t *tick, idx []int, ins [][]tensor.Tensor) *failure {
	sc := &e.work.scratch
	rows := slices.Grow(sc.rows[:0], len(ins))[:len(ins)]
	sc.rows = rows
	var total int64
	for k, ts := range ins {
		rows[k] = ts[0].Shape[0]
		total += rows[k]
	}
	out, f := a.timedRun(e, sess, e.joiner.join(ins, total), len(idx), t.at)
	e.joiner.drop()
	if f != nil {
		return f
	}
	for _, o := range out {
		if len(o.Shape) == 0 || o.Shape[0] != total {
			return &failure{tensor.RunFailed, fmt.Sprintf("model %s: a batch of %d rows gave an output of shape %s; declare it without max_batch", e.model.Key(), total, tensor.ShapeString(o.Shape))}
		}
	}
	// No request's share can be over the limit when the whole batch's
	// outputs are not.
	limited := a.overLimit(e, out) != nil
	flags := a.flags(e) | tensor.Batched
	dims, data := 0, 0
	for _, o := range out {
		dims += len(o.Shape)
		data += len(o.Data)
	}
	// Encoded answers (Manager.RunEncoded) are written straight from the
	// outputs into one buffer for the batch: a request's answer is the
	// batch's list with its rows of data, and dense outputs (batchable)
	// encode to a size linear in their data. Otherwise the requests'
	// outputs and their shapes are cut from one allocation each: a batch
	// costs the same few allocations whatever its size.
	var all []tensor.Tensor
	var shapes []int64
	var enc []byte
	if t.enc != nil {
		enc = make([]byte, 0, len(idx)*(tensor.ResultHeaderSize+tensor.ListSize(out)-data)+data)
	} else {
		out = own(out) // the requests' outputs are cut from it
		all = make([]tensor.Tensor, len(idx)*len(out))
		shapes = make([]int64, len(idx)*dims)
	}
	var start int64
	batched := 0
	for k, i := range idx {
		n := rows[k]
		start += n
		if limited {
			if f := a.overLimitBytes(e, share(out, total, n)); f != nil {
				a.fail(t, e, i, f)
				continue
			}
		}
		if t.enc != nil {
			at := len(enc)
			enc = tensor.AppendRows(enc, t.reqs[i].Request, flags, out, total, start-n, n)
			t.enc[i] = enc[at:len(enc):len(enc)]
			batched++
			continue
		}
		parts := all[k*len(out) : (k+1)*len(out) : (k+1)*len(out)]
		for j, o := range out {
			row := int64(len(o.Data)) / total
			shape := shapes[:len(o.Shape):len(o.Shape)]
			shapes = shapes[len(o.Shape):]
			copy(shape, o.Shape)
			shape[0] = n
			parts[j] = tensor.Tensor{Kind: o.Kind, DType: o.DType, Shape: shape, Data: o.Data[(start-n)*row : start*row]}
		}
		t.res[i] = tensor.Result{Request: t.reqs[i].Request, Flags: flags, Outputs: parts}
		batched++
	}
	e.count(func(s *stats) { s.Batched += uint64(batched) })
	return nil
}

// joiner joins batched requests' inputs (join) in memory it keeps from
// run to run: an aligned buffer per input (up to keepBelow), and the
// joined tensors and their shapes.
type joiner struct {
	bufs [][]byte
	ts   []tensor.Tensor
	dims []int64
}

// join concatenates requests' inputs (ins, total rows) along the leading
// dimension, each input in its aligned buffer, or in one of its own when
// it is larger than a session keeps (keepBelow). The tensors it returns
// are valid until the next join; drop lets go of their data.
func (jn *joiner) join(ins [][]tensor.Tensor, total int64) []tensor.Tensor {
	n := len(ins[0])
	for len(jn.bufs) < n {
		jn.bufs = append(jn.bufs, nil)
	}
	jn.ts, jn.dims = slices.Grow(jn.ts[:0], n)[:n], jn.dims[:0]
	for j := range jn.ts {
		at := len(jn.dims)
		jn.dims = append(jn.dims, ins[0][j].Shape...)
		t := tensor.Tensor{DType: ins[0][j].DType, Shape: jn.dims[at:len(jn.dims):len(jn.dims)]}
		t.Shape[0] = total
		size := 0
		for _, ts := range ins {
			size += len(ts[j].Data)
		}
		pool := &jn.bufs[j]
		if size > keepBelow {
			pool = new([]byte)
		}
		t.Data = alignedBuf(pool, size)[:0]
		for _, ts := range ins {
			t.Data = append(t.Data, ts[j].Data...)
		}
		jn.ts[j] = t
	}
	return jn.ts
}

// drop lets go of the last join's tensors, so that an input joined in
// memory of its own is not kept until the next.
func (jn *joiner) drop() { clear(jn.ts) }

// batchable reports whether sess's requests can share a run at all: every
// input and output has a symbolic leading dimension and elements of a fixed
// size (rows of strings cannot be joined and split by bytes; sequences and
// maps have no leading dimension).
func batchable(sess Session) bool {
	for _, ts := range [][]TensorInfo{sess.Inputs(), sess.Outputs()} {
		for _, t := range ts {
			if len(t.Shape) == 0 || t.Shape[0] >= 0 || t.DType.Size() == 0 {
				return false
			}
		}
	}
	return true
}

// joinable reports whether request y can share a batch with request x,
// whose inputs agree in their rows (rowsAgree): y's do too, and y's inputs
// agree with x's in everything but that leading dimension.
func joinable(x, y []tensor.Tensor) bool {
	if sharedShapes(x, y) { // decoded alike (scratch.inputs)
		return true
	}
	if !rowsAgree(y) {
		return false
	}
	for j := range x {
		if !slices.Equal(x[j].Shape[1:], y[j].Shape[1:]) {
			return false
		}
	}
	return true
}

// sharedShapes reports whether x's and y's inputs are the same shapes, in
// the same memory.
func sharedShapes(x, y []tensor.Tensor) bool {
	if len(x) != len(y) {
		return false
	}
	for j := range x {
		if len(x[j].Shape) != len(y[j].Shape) || unsafe.SliceData(x[j].Shape) != unsafe.SliceData(y[j].Shape) {
			return false
		}
	}
	return true
}

// rowsAgree reports whether every input of a request has the same, non-zero
// leading dimension.
func rowsAgree(ts []tensor.Tensor) bool {
	if len(ts) == 0 {
		return false
	}
	for _, t := range ts {
		if len(t.Shape) == 0 || t.Shape[0] == 0 || t.Shape[0] != ts[0].Shape[0] {
			return false
		}
	}
	return true
}

// inputs decodes and checks request q's input: when it is encoded as the
// last encoded request that passed was, but for its data, it passes too,
// and decoding it is comparing their headers (tensor.Decoder.DecodeLike).
func (sc *scratch) inputs(e *entry, sess Session, q *Request) ([]tensor.Tensor, *failure) {
	if sc.like != nil && q.Input != nil {
		if ts, ok := sc.dec.DecodeLike(q.Input, sc.like, sc.likeTs); ok {
			return ts, nil
		}
	}
	ts, f := checkInputs(e, sess, &sc.dec, q)
	if f == nil && q.Input != nil {
		sc.like, sc.likeTs = q.Input, ts
	}
	return ts, f
}

// checkInputs decodes a request's input (into dec's storage) and checks it
// against the model (its session sess).
func checkInputs(e *entry, sess Session, dec *tensor.Decoder, q *Request) ([]tensor.Tensor, *failure) {
	key := e.key
	ts := q.Inputs
	if q.Input != nil {
		var err error
		if ts, err = dec.DecodeList(q.Input); err != nil {
			return nil, &failure{tensor.BadInput, fmt.Sprintf("model %s: the input is not a tensor list: %v", key, err)}
		}
	}
	infos := sess.Inputs()
	if len(ts) != len(infos) {
		return nil, &failure{tensor.BadInput, fmt.Sprintf("model %s takes %d input tensors (%s), the request has %d", key, len(infos), describe(infos), len(ts))}
	}
	for j, t := range ts {
		in := infos[j]
		if q.Input == nil { // decoded by the caller: not checked yet
			if err := t.Check(); err != nil {
				return nil, &failure{tensor.BadInput, fmt.Sprintf("model %s: input %d (%q): %v", key, j, in.Name, err)}
			}
		}
		if in.DType == 0 {
			return nil, &failure{tensor.BadInput, fmt.Sprintf("model %s: input %d (%q) has a type Lockstep does not carry", key, j, in.Name)}
		}
		if t.DType != in.DType || !fits(in.Shape, t.Shape) {
			return nil, &failure{tensor.BadInput, fmt.Sprintf("model %s: input %d (%q) must be %s %s; the request has %s %s", key, j, in.Name, in.DType, dims(in.Shape), t.DType, tensor.ShapeString(t.Shape))}
		}
	}
	return ts, nil
}

// fits reports whether shape matches want, where -1 matches any size.
func fits(want, shape []int64) bool {
	if len(want) != len(shape) {
		return false
	}
	for i, d := range want {
		if d >= 0 && d != shape[i] {
			return false
		}
	}
	return true
}

// dims formats a declared shape, symbolic dimensions as "?".
func dims(s []int64) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, "×") + "]"
}

func describe(infos []TensorInfo) string {
	parts := make([]string, len(infos))
	for i, t := range infos {
		parts[i] = fmt.Sprintf("%s %s %s", t.Name, t.DType, dims(t.Shape))
	}
	return strings.Join(parts, ", ")
}
