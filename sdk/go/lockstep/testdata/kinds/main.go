// Command kinds is a test agent of the Go SDK for every kind of value
// (internal/modeltest, CheckKinds): at its first step it asks model "kinds"
// about typed inputs built with package tensor's helpers; when the result
// comes it renders every output, read with tensor.As, Float16s, Strings,
// Elems, MapKeys and MapValues, into its state region "seen". Grants:
// inference:kinds, state.write, wasi.
package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/lockstep-rt/lockstep/modelactor/tensor"
	"github.com/lockstep-rt/lockstep/sdk/go/lockstep"
)

type kinds struct{ lockstep.Base }

func (kinds) Step(ctx *lockstep.Context) error {
	if ctx.Tick() != 0 {
		return nil
	}
	_, err := ctx.Infer("kinds", "1",
		tensor.FromFloat32([]int64{1, 4}, []float32{0.5, -1.25, 2, 0.75}),
		tensor.FromFloat16([]int64{2}, []float32{1.5, -0.1}),
		tensor.From([]int64{2}, []int64{-5, 1 << 40}),
		tensor.From([]int64{2}, []int32{-7, 123456}),
		tensor.From([]int64{3}, []uint8{1, 2, 255}),
		tensor.FromStrings([]int64{2}, []string{"ab", "✿ς"}))
	return err
}

func (kinds) Receive(ctx *lockstep.Context, m lockstep.Message) error {
	if !m.Inference() {
		return nil
	}
	r, err := m.Result()
	if err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return err
	}
	lines := make([]string, len(r.Outputs))
	for i, v := range r.Outputs {
		if lines[i], err = render(v); err != nil {
			return err
		}
	}
	return ctx.StateWrite("seen", []byte(strings.Join(lines, "\n")))
}

func render(v lockstep.Tensor) (string, error) {
	var b strings.Builder
	switch v.Kind {
	case tensor.Sequence:
		fmt.Fprintf(&b, "seq %d", len(v.Elems))
		for _, e := range v.Elems {
			s, err := render(e)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(&b, " (%s)", s)
		}
		return b.String(), nil
	case tensor.Map:
		keys, err := elems(v.MapKeys())
		if err != nil {
			return "", err
		}
		values, err := elems(v.MapValues())
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "map %d", len(keys))
		for i := range keys {
			fmt.Fprintf(&b, " %s=%s", keys[i], values[i])
		}
		return b.String(), nil
	}
	dims := make([]string, len(v.Shape))
	for i, d := range v.Shape {
		dims[i] = fmt.Sprint(d)
	}
	fmt.Fprintf(&b, "%s [%s]", v.DType, strings.Join(dims, ","))
	es, err := elems(v)
	for _, e := range es {
		b.WriteString(" " + e)
	}
	return b.String(), err
}

// elems renders a tensor's elements, read with the typed helpers.
func elems(v lockstep.Tensor) ([]string, error) {
	var out []string
	hex := func(f []float32, err error) error {
		for _, x := range f {
			out = append(out, fmt.Sprintf("%08x", math.Float32bits(x)))
		}
		return err
	}
	var err error
	switch v.DType {
	case tensor.Float32:
		err = hex(v.Float32s())
	case tensor.Float16:
		err = hex(v.Float16s())
	case tensor.Int64:
		out, err = decimal(tensor.As[int64](v))
	case tensor.Int32:
		out, err = decimal(tensor.As[int32](v))
	case tensor.Uint8:
		out, err = decimal(tensor.As[uint8](v))
	case tensor.String:
		var s []string
		s, err = v.Strings()
		for _, x := range s {
			out = append(out, fmt.Sprintf("%d:%s", len(x), x))
		}
	default:
		err = fmt.Errorf("kinds: unexpected %s", v.TypeString())
	}
	return out, err
}

func decimal[T int64 | int32 | uint8](v []T, err error) ([]string, error) {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprint(x)
	}
	return out, err
}

func init() { lockstep.Register(kinds{}) }

func main() {}
