package tensor_test

import (
	"fmt"

	"github.com/lockstep-rt/lockstep/modelactor/tensor"
)

// A scikit-learn classifier converted to ONNX answers a label per row and a
// sequence of maps from class label to probability; an agent reads them
// like this.
func ExampleTensor_Elems() {
	answer := tensor.EncodeList(
		tensor.From([]int64{1}, []int64{20}),
		tensor.NewSequence(tensor.NewMap(tensor.From([]int64{3}, []int64{10, 20, 30}), tensor.From([]int64{3}, []float32{0.25, 0.5, 0.25}))),
	)
	outs, err := tensor.DecodeList(answer)
	if err != nil {
		panic(err)
	}
	labels, _ := tensor.As[int64](outs[0])
	fmt.Println(outs[1].TypeString(), "label", labels[0])
	for _, row := range outs[1].Elems {
		classes, _ := tensor.As[int64](row.MapKeys())
		probs, _ := row.MapValues().Float32s()
		for i := range classes {
			fmt.Printf("%d: %.2f\n", classes[i], probs[i])
		}
	}
	// Output:
	// seq(map(int64,float32)) label 20
	// 10: 0.25
	// 20: 0.50
	// 30: 0.25
}
