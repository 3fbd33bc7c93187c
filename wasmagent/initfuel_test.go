package wasmagent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lockstep-rt/lockstep/internal/engine"
	"github.com/lockstep-rt/lockstep/internal/guests"
	"github.com/lockstep-rt/lockstep/wasmagent"
)

// TestInitFuelOfGuests measures the instantiation fuel (start function,
// _initialize, agent_init) of every example guest, and checks the default
// budget leaves each a wide margin: DefaultInitFuel is sized by it.
func TestInitFuelOfGuests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every example guest")
	}
	dir, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.wasm"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no guests in %s: %v", dir, err)
	}
	ctx := context.Background()
	rt, err := wasmagent.NewRuntime(ctx, wasmagent.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".wasm")
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := rt.Load(ctx, name, data)
		if err != nil {
			t.Fatal(err)
		}
		a, err := m.New("a", 1, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Init(engine.NewOutbox(&engine.Agent{ID: "a"}, 0)); err != nil {
			t.Fatalf("%s: Init: %v", name, err)
		}
		used := a.(interface{ TakeFuel() uint64 }).TakeFuel()
		t.Logf("%-16s instantiation fuel %9d", name, used)
		if used == 0 || used > wasmagent.DefaultInitFuel/8 {
			t.Errorf("%s: instantiation used %d fuel; the default budget %d should leave it an 8x margin", name, used, wasmagent.DefaultInitFuel)
		}
	}
}
