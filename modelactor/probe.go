package modelactor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// decideBatching sets e.batch and e.batchOff once e's session sess is
// open (before the actor publishes it as e.sess): a
// model is batched only when declared batchable (Model.MaxBatch > 1), when
// its inputs and outputs have a symbolic leading dimension, and when the
// probe finds that batching changes no bit of its answers.
func (a *manager) decideBatching(e *entry, sess Session) {
	e.batch, e.batchOff = 0, ""
	if e.model.MaxBatch <= 1 {
		return
	}
	why := ""
	if !batchable(sess) || len(sess.Inputs()) == 0 {
		why = "its inputs and outputs do not all have a symbolic leading (batch) dimension"
	} else {
		why = probeBatching(sess, e.model.MaxBatch)
	}
	if why != "" {
		e.batchOff = why
		a.cfg.Logger.WithField("model", e.model.Key()).Warnf("modelactor: declared max_batch %d, but batching is off: %s; each request runs alone", e.model.MaxBatch, why)
		return
	}
	e.batch = e.model.MaxBatch
}

// probeBatching runs seeded requests (of 2, 1 and 1 rows, at most maxBatch
// of them) alone and then batched in two orders, so that each sits at
// another position, and returns why batching changes an answer, or "".
// Symbolic inner dimensions are probed at size 1.
func probeBatching(s Session, maxBatch int) string {
	rows := []int64{2, 1, 1}[:min(maxBatch, 3)]
	reqs := make([][]tensor.Tensor, len(rows))
	alone := make([][]tensor.Tensor, len(rows))
	for k, r := range rows {
		var why string
		if reqs[k], why = probeInputs(s, r, k); why != "" {
			return why
		}
		out, err := s.Run(reqs[k])
		if err != nil {
			return fmt.Sprintf("the probe's request %d of %d rows failed alone: %v", k, r, err)
		}
		alone[k] = cloneTensors(out)
	}
	if len(rows) < 2 {
		return ""
	}
	orders := [][]int{make([]int, len(rows)), make([]int, len(rows))}
	for k := range rows {
		orders[0][k], orders[1][k] = k, len(rows)-1-k
	}
	var jn joiner
	for _, order := range orders {
		ins := make([][]tensor.Tensor, len(order))
		var total int64
		for p, k := range order {
			ins[p] = reqs[k]
			total += rows[k]
		}
		out, err := s.Run(jn.join(ins, total))
		if err != nil {
			return fmt.Sprintf("a batched probe run of %d requests failed: %v", len(order), err)
		}
		var start int64
		for p, k := range order {
			for j, o := range out {
				if len(o.Shape) == 0 || o.Shape[0] != total || int64(len(o.Data))%total != 0 {
					return fmt.Sprintf("a batch of %d rows gave output %d of shape %s", total, j, tensor.ShapeString(o.Shape))
				}
				row := int64(len(o.Data)) / total
				if j >= len(alone[k]) || !bytes.Equal(o.Data[start*row:(start+rows[k])*row], alone[k][j].Data) {
					return fmt.Sprintf("a request of %d rows answers other bits at position %d of a batch of %d requests than alone (output %d): the model's rows interact, or its kernels depend on the batch", rows[k], p, len(order), j)
				}
			}
			start += rows[k]
		}
	}
	return ""
}

// probeInputs are the seeded inputs of probe request k for s: rows rows
// where the leading dimension is symbolic, size 1 in any other symbolic
// dimension. It says why there are none when an input's elements have no
// fixed size (a type Lockstep does not carry, or strings).
func probeInputs(s Session, rows int64, k int) ([]tensor.Tensor, string) {
	infos := s.Inputs()
	ts := make([]tensor.Tensor, len(infos))
	for j, info := range infos {
		if info.DType.Size() == 0 {
			return nil, fmt.Sprintf("input %d (%s) has no fixed-size elements (type %s) to fill with seeded values", j, info.Name, info.DType)
		}
		shape := slices.Clone(info.Shape)
		for i := range shape {
			if shape[i] < 0 {
				shape[i] = 1
				if i == 0 {
					shape[i] = rows
				}
			}
		}
		ts[j] = probeTensor(info.DType, shape, uint64(1+k*len(infos)+j))
	}
	return ts, ""
}

func cloneTensors(ts []tensor.Tensor) []tensor.Tensor {
	out := make([]tensor.Tensor, len(ts))
	for i, t := range ts {
		out[i] = tensor.Tensor{DType: t.DType, Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
	}
	return out
}

// probeTensor is a tensor of dtype and shape filled from a splitmix64
// sequence of seed: floats in [-2, 2), integers in 0..3 (valid as small
// indices), booleans 0 or 1.
func probeTensor(d tensor.DType, shape []int64, seed uint64) tensor.Tensor {
	t := tensor.Tensor{DType: d, Shape: shape}
	n := int(t.Elements())
	size := d.Size()
	t.Data = make([]byte, n*size)
	next := func() uint64 {
		seed += 0x9e3779b97f4a7c15
		z := seed
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
	for i := range n {
		r := next()
		b := t.Data[i*size:]
		switch d {
		case tensor.Float32:
			binary.LittleEndian.PutUint32(b, math.Float32bits(float32(r>>40)/(1<<22)-2))
		case tensor.Float64:
			binary.LittleEndian.PutUint64(b, math.Float64bits(float64(r>>11)/(1<<51)-2))
		case tensor.Bool:
			b[0] = byte(r & 1)
		default: // integers, little-endian: the low byte is the value
			b[0] = byte(r & 3)
		}
	}
	return t
}
