package pmath

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// fusedOp matches the fused multiply-add instructions of the Go assembler:
// FMADDD, FMSUBD, FNMADDD, FNMSUBD (arm64, riscv64, loong64), FMADD, FMSUB,
// FNMADD, FNMSUB (ppc64, s390x) and VFMADD231SD etc. (amd64 with
// GOAMD64=v3). arm's MULAD is not fused (it rounds the product) and is not
// matched.
var fusedOp = regexp.MustCompile(`\)\tV?FN?M(ADD|SUB)[A-Z0-9]*\t`)

// TestNoFusedMultiplyAdd compiles the package for every GOARCH whose
// compiler fuses x*y+z and fails on any fused instruction in its assembly:
// each one is a product that meets an addition without a float64(...)
// conversion. It needs the go command, and skips without it or with -short.
func TestNoFusedMultiplyAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the package for six targets")
	}
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	targets := []struct{ goarch, extra string }{
		{"arm64", ""}, {"riscv64", ""}, {"ppc64le", ""}, {"s390x", ""}, {"loong64", ""}, {"amd64", "GOAMD64=v3"},
	}
	for _, tg := range targets {
		cmd := exec.Command(gocmd, "build", "-gcflags=-S", ".")
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+tg.goarch, "CGO_ENABLED=0")
		if tg.extra != "" {
			cmd.Env = append(cmd.Env, tg.extra)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("GOARCH=%s %s go build -gcflags=-S: %v\n%s", tg.goarch, tg.extra, err, out)
		}
		if !strings.Contains(string(out), "pmath.Exp(SB)") {
			t.Fatalf("GOARCH=%s: no assembly listing in the output of go build -gcflags=-S", tg.goarch)
		}
		n := 0
		for _, line := range strings.Split(string(out), "\n") {
			if fusedOp.MatchString(line) {
				if n++; n <= 10 {
					t.Errorf("GOARCH=%s %s: fused multiply-add: %s", tg.goarch, tg.extra, strings.TrimSpace(line))
				}
			}
		}
		if n > 0 {
			t.Errorf("GOARCH=%s %s: %d fused multiply-adds; wrap each product that meets + or - in float64(...)", tg.goarch, tg.extra, n)
		}
	}
}
