package onnx

// Rand is a splitmix64 generator: small, seedable and identical on every
// platform, so that model weights depend only on the seed.
type Rand struct{ s uint64 }

// NewRand returns a generator for seed.
func NewRand(seed uint64) *Rand { return &Rand{s: seed} }

// Uint64 returns the next 64 random bits.
func (r *Rand) Uint64() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Float32 returns a value in [-1, 1) with 24 random bits (exact in float32).
func (r *Rand) Float32() float32 {
	return float32(r.Uint64()>>40)/(1<<23) - 1
}

func (r *Rand) fill(n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32() * scale
	}
	return v
}

// MLPParams is a two-layer perceptron y = relu(x·W1 + B1)·W2 + B2 with
// x of shape [batch, In]; W1 is [In, Hidden], W2 is [Hidden, Out], row major.
type MLPParams struct {
	In, Hidden, Out int
	W1, B1, W2, B2  []float32
}

// NewMLP draws the weights of an MLP from seed: weights uniform in
// [-0.5, 0.5), biases in [-0.1, 0.1).
func NewMLP(in, hidden, out int, seed uint64) MLPParams {
	if in <= 0 || hidden <= 0 || out <= 0 {
		panic("onnx: MLP sizes must be positive")
	}
	r := NewRand(seed)
	return MLPParams{
		In: in, Hidden: hidden, Out: out,
		W1: r.fill(in*hidden, 0.5),
		B1: r.fill(hidden, 0.1),
		W2: r.fill(hidden*out, 0.5),
		B2: r.fill(out, 0.1),
	}
}

// Model returns the ONNX graph of p: input "x" [batch, In], output "y"
// [batch, Out], with "batch" a symbolic dimension.
func (p MLPParams) Model() *Model {
	i, h, o := int64(p.In), int64(p.Hidden), int64(p.Out)
	batch := Dim{Param: "batch"}
	return &Model{
		Producer: "lockstep",
		Graph: Graph{
			Name: "mlp",
			Nodes: []Node{
				{Name: "mm1", OpType: "MatMul", Inputs: []string{"x", "W1"}, Outputs: []string{"h0"}},
				{Name: "add1", OpType: "Add", Inputs: []string{"h0", "B1"}, Outputs: []string{"h1"}},
				{Name: "relu", OpType: "Relu", Inputs: []string{"h1"}, Outputs: []string{"h2"}},
				{Name: "mm2", OpType: "MatMul", Inputs: []string{"h2", "W2"}, Outputs: []string{"h3"}},
				{Name: "add2", OpType: "Add", Inputs: []string{"h3", "B2"}, Outputs: []string{"y"}},
			},
			Initializers: []Tensor{
				{Name: "W1", Dims: []int64{i, h}, Data: p.W1},
				{Name: "B1", Dims: []int64{h}, Data: p.B1},
				{Name: "W2", Dims: []int64{h, o}, Data: p.W2},
				{Name: "B2", Dims: []int64{o}, Data: p.B2},
			},
			Inputs:  []ValueInfo{{Name: "x", Shape: []Dim{batch, {Value: i}}}},
			Outputs: []ValueInfo{{Name: "y", Shape: []Dim{batch, {Value: o}}}},
		},
	}
}

// Eval computes the MLP in plain float32 Go for x of shape [batch, In]
// (len(x) must be a multiple of In) and returns y of shape [batch, Out].
// It is the reference the runtime's output is compared against.
func (p MLPParams) Eval(x []float32) []float32 {
	if len(x)%p.In != 0 {
		panic("onnx: MLP input length is not a multiple of In")
	}
	batch := len(x) / p.In
	y := make([]float32, batch*p.Out)
	h := make([]float32, p.Hidden)
	for b := 0; b < batch; b++ {
		xb := x[b*p.In : (b+1)*p.In]
		for j := 0; j < p.Hidden; j++ {
			var s float32
			for k := 0; k < p.In; k++ {
				s += xb[k] * p.W1[k*p.Hidden+j]
			}
			s += p.B1[j]
			if s < 0 {
				s = 0
			}
			h[j] = s
		}
		for j := 0; j < p.Out; j++ {
			var s float32
			for k := 0; k < p.Hidden; k++ {
				s += h[k] * p.W2[k*p.Out+j]
			}
			y[b*p.Out+j] = s + p.B2[j]
		}
	}
	return y
}

// MLP returns the ModelProto bytes of NewMLP(in, hidden, out, seed).
func MLP(in, hidden, out int, seed uint64) []byte {
	return NewMLP(in, hidden, out, seed).Model().Encode()
}

// ConvParams is one 2-D convolution (NCHW, stride 1, "same" zero padding
// for an odd kernel) followed by Relu: W is [OutC, InC, K, K], B is [OutC].
type ConvParams struct {
	InC, OutC, K, H, W int
	Weight, Bias       []float32
}

// NewConv draws the weights of a convolution from seed. k must be odd.
func NewConv(inC, outC, k, h, w int, seed uint64) ConvParams {
	if inC <= 0 || outC <= 0 || k <= 0 || k%2 == 0 || h <= 0 || w <= 0 {
		panic("onnx: Conv sizes must be positive and the kernel odd")
	}
	r := NewRand(seed)
	return ConvParams{
		InC: inC, OutC: outC, K: k, H: h, W: w,
		Weight: r.fill(outC*inC*k*k, 0.5),
		Bias:   r.fill(outC, 0.1),
	}
}

// Model returns the ONNX graph of p: input "x" [batch, InC, H, W], output
// "y" [batch, OutC, H, W].
func (p ConvParams) Model() *Model {
	pad := int64(p.K / 2)
	k := int64(p.K)
	batch := Dim{Param: "batch"}
	return &Model{
		Producer: "lockstep",
		Graph: Graph{
			Name: "conv",
			Nodes: []Node{
				{Name: "conv", OpType: "Conv", Inputs: []string{"x", "W", "B"}, Outputs: []string{"c"},
					Attrs: []Attr{
						IntsAttr("kernel_shape", k, k),
						IntsAttr("pads", pad, pad, pad, pad),
						IntsAttr("strides", 1, 1),
						IntAttr("group", 1),
					}},
				{Name: "relu", OpType: "Relu", Inputs: []string{"c"}, Outputs: []string{"y"}},
			},
			Initializers: []Tensor{
				{Name: "W", Dims: []int64{int64(p.OutC), int64(p.InC), k, k}, Data: p.Weight},
				{Name: "B", Dims: []int64{int64(p.OutC)}, Data: p.Bias},
			},
			Inputs:  []ValueInfo{{Name: "x", Shape: []Dim{batch, {Value: int64(p.InC)}, {Value: int64(p.H)}, {Value: int64(p.W)}}}},
			Outputs: []ValueInfo{{Name: "y", Shape: []Dim{batch, {Value: int64(p.OutC)}, {Value: int64(p.H)}, {Value: int64(p.W)}}}},
		},
	}
}

// Eval computes the convolution and Relu in plain float32 Go.
func (p ConvParams) Eval(x []float32) []float32 {
	plane := p.H * p.W
	if len(x)%(p.InC*plane) != 0 {
		panic("onnx: Conv input length is not a multiple of InC*H*W")
	}
	batch := len(x) / (p.InC * plane)
	pad := p.K / 2
	y := make([]float32, batch*p.OutC*plane)
	for b := 0; b < batch; b++ {
		for oc := 0; oc < p.OutC; oc++ {
			for i := 0; i < p.H; i++ {
				for j := 0; j < p.W; j++ {
					var s float32
					for ic := 0; ic < p.InC; ic++ {
						for ki := 0; ki < p.K; ki++ {
							ii := i + ki - pad
							if ii < 0 || ii >= p.H {
								continue
							}
							for kj := 0; kj < p.K; kj++ {
								jj := j + kj - pad
								if jj < 0 || jj >= p.W {
									continue
								}
								s += x[((b*p.InC+ic)*p.H+ii)*p.W+jj] *
									p.Weight[((oc*p.InC+ic)*p.K+ki)*p.K+kj]
							}
						}
					}
					s += p.Bias[oc]
					if s < 0 {
						s = 0
					}
					y[((b*p.OutC+oc)*p.H+i)*p.W+j] = s
				}
			}
		}
	}
	return y
}

// Conv returns the ModelProto bytes of NewConv(inC, outC, k, h, w, seed).
func Conv(inC, outC, k, h, w int, seed uint64) []byte {
	return NewConv(inC, outC, k, h, w, seed).Model().Encode()
}
