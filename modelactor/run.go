package modelactor

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// group is the requests of one run for one model version.
type group struct {
	e   *entry
	idx []int // positions in the run's requests
}

// run answers reqs in order. Requests for the same model version are served
// together, in the order of their first request; within a model, in request
// order.
func (a *manager) run(reqs []Request) []tensor.Result {
	res := make([]tensor.Result, len(reqs))
	var groups []*group
	byEntry := map[*entry]*group{}
	for i, q := range reqs {
		e, f := a.reg.resolve(q.Model, q.Version)
		if f != nil {
			res[i] = tensor.Failure(q.Request, f.status, "%s", f.msg)
			continue
		}
		e.metrics.Requests++
		g := byEntry[e]
		if g == nil {
			g = &group{e: e}
			byEntry[e] = g
			groups = append(groups, g)
		}
		g.idx = append(g.idx, i)
	}
	for _, g := range groups {
		a.serve(g, reqs, res)
	}
	return res
}

// serve loads the group's model and runs its requests.
func (a *manager) serve(g *group, reqs []Request, res []tensor.Result) {
	e := g.e
	n := uint64(len(g.idx))
	if e.sess != nil {
		e.metrics.Hits += n
	} else {
		e.metrics.Misses++
		e.metrics.Hits += n - 1
	}
	fail := func(i int, f *failure) {
		res[i] = tensor.Failure(reqs[i].Request, f.status, "%s", f.msg)
		res[i].Flags = a.flags(e) // a recorded model's failures are recorded too
		e.metrics.Errors++
	}
	if f := a.load(e); f != nil {
		for _, i := range g.idx {
			fail(i, f)
		}
		return
	}
	var ok []int
	var ins [][]tensor.Tensor
	for _, i := range g.idx {
		ts, f := checkInputs(e, reqs[i])
		if f != nil {
			fail(i, f)
			continue
		}
		ok = append(ok, i)
		ins = append(ins, ts)
	}
	for len(ok) > 0 {
		// The longest run of requests, from the first left, that can share
		// one batch; a request alone runs by itself.
		take := 1
		if e.batch > 1 {
			for take < len(ok) && take < e.batch && sameInner(ins[0], ins[take]) {
				take++
			}
		}
		var f *failure
		if take == 1 {
			f = a.single(e, reqs[ok[0]], ins[0], &res[ok[0]])
		} else {
			f = a.batch(e, reqs, ok[:take], ins[:take], res)
		}
		if f != nil {
			for _, i := range ok[:take] {
				fail(i, f)
			}
		}
		ok, ins = ok[take:], ins[take:]
	}
}

func (a *manager) flags(e *entry) tensor.Flags {
	if e.model.Recorded() {
		return tensor.Recorded
	}
	return 0
}

// timedRun runs the session and accounts for it.
func (a *manager) timedRun(e *entry, in []tensor.Tensor) ([]tensor.Tensor, *failure) {
	start := time.Now()
	out, err := e.sess.Run(in)
	e.metrics.RunTime += time.Since(start)
	e.metrics.Runs++
	if err != nil {
		return nil, &failure{tensor.RunFailed, fmt.Sprintf("model %s: ONNX Runtime: %v", e.model.Key(), err)}
	}
	return out, nil
}

func (a *manager) single(e *entry, q Request, in []tensor.Tensor, res *tensor.Result) *failure {
	out, f := a.timedRun(e, in)
	if f != nil {
		return f
	}
	*res = tensor.Result{Request: q.Request, Flags: a.flags(e), Outputs: out}
	return nil
}

// batch runs requests (positions idx, inputs ins) as one run, concatenated
// along the leading dimension in order, and splits the outputs back.
func (a *manager) batch(e *entry, reqs []Request, idx []int, ins [][]tensor.Tensor, res []tensor.Result) *failure {
	rows := make([]int64, len(ins))
	var total int64
	for k, ts := range ins {
		rows[k] = ts[0].Shape[0]
		total += rows[k]
	}
	for len(e.joinBufs) < len(ins[0]) {
		e.joinBufs = append(e.joinBufs, nil)
	}
	out, f := a.timedRun(e, join(ins, total, e.joinBufs))
	if f != nil {
		return f
	}
	for _, o := range out {
		if len(o.Shape) == 0 || o.Shape[0] != total {
			return &failure{tensor.RunFailed, fmt.Sprintf("model %s: a batch of %d rows gave an output of shape %s; declare it without max_batch", e.model.Key(), total, tensor.ShapeString(o.Shape))}
		}
	}
	var start int64
	for k, i := range idx {
		parts := make([]tensor.Tensor, len(out))
		for j, o := range out {
			row := int64(len(o.Data)) / total
			s := o
			s.Shape = slices.Clone(o.Shape)
			s.Shape[0] = rows[k]
			s.Data = o.Data[start*row : (start+rows[k])*row]
			parts[j] = s
		}
		start += rows[k]
		res[i] = tensor.Result{Request: reqs[i].Request, Flags: a.flags(e) | tensor.Batched, Outputs: parts}
	}
	e.metrics.Batched += uint64(len(idx))
	return nil
}

// join concatenates requests' inputs (ins, total rows) along the leading
// dimension, each input in an aligned buffer from bufs (one per input, at
// least len(ins[0])).
func join(ins [][]tensor.Tensor, total int64, bufs [][]byte) []tensor.Tensor {
	joined := make([]tensor.Tensor, len(ins[0]))
	for j := range joined {
		t := tensor.Tensor{DType: ins[0][j].DType, Shape: slices.Clone(ins[0][j].Shape)}
		t.Shape[0] = total
		n := 0
		for _, ts := range ins {
			n += len(ts[j].Data)
		}
		t.Data = alignedBuf(&bufs[j], n)[:0]
		for _, ts := range ins {
			t.Data = append(t.Data, ts[j].Data...)
		}
		joined[j] = t
	}
	return joined
}

// batchable reports whether sess's requests can share a run at all: every
// input and output has a symbolic leading dimension.
func batchable(sess Session) bool {
	for _, ts := range [][]TensorInfo{sess.Inputs(), sess.Outputs()} {
		for _, t := range ts {
			if len(t.Shape) == 0 || t.Shape[0] >= 0 {
				return false
			}
		}
	}
	return true
}

// sameInner reports whether two requests can share a batch: each has rows,
// the same number in every one of its inputs, and their inputs agree in
// everything but that leading dimension.
func sameInner(x, y []tensor.Tensor) bool {
	if !rowsAgree(x) || !rowsAgree(y) {
		return false
	}
	for j := range x {
		if !slices.Equal(x[j].Shape[1:], y[j].Shape[1:]) {
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
		if t.Shape[0] == 0 || t.Shape[0] != ts[0].Shape[0] {
			return false
		}
	}
	return true
}

// checkInputs decodes a request's input and checks it against the model.
func checkInputs(e *entry, q Request) ([]tensor.Tensor, *failure) {
	key := e.model.Key()
	ts := q.Inputs
	if q.Input != nil {
		var err error
		if ts, err = tensor.DecodeList(q.Input); err != nil {
			return nil, &failure{tensor.BadInput, fmt.Sprintf("model %s: the input is not a tensor list: %v", key, err)}
		}
	}
	infos := e.sess.Inputs()
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
		if len(t.Shape) == 0 || t.Elements() == 0 {
			return nil, &failure{tensor.BadInput, fmt.Sprintf("model %s: input %d (%q) has shape %s: ONNX Runtime's Go binding takes tensors of rank 1 or more with at least one element (send a scalar as shape [1])", key, j, in.Name, tensor.ShapeString(t.Shape))}
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
