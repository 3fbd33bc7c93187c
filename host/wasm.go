package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lockstep-rt/lockstep/actors/agent"
	"github.com/lockstep-rt/lockstep/internal/fsutil"
	"github.com/lockstep-rt/lockstep/wasmagent"
	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// Module names a WebAssembly agent module: spawning an agent of kind Name
// instantiates it.
type Module struct {
	Name string `json:"name" yaml:"name"`
	// Path is the .wasm file (relative paths are resolved against the
	// topology file's directory when loaded from a topology).
	Path string `json:"path" yaml:"path"`
	// Fuel overrides the fuel per tick of this module's agents (1..2^62).
	Fuel uint64 `json:"fuel,omitempty" yaml:"fuel"`
	// MaxPages overrides the memory limit (64 KiB pages, 1..65536) of this
	// module's agents.
	MaxPages uint32 `json:"max_pages,omitempty" yaml:"max_pages"`
	// Grants are the capabilities the host grants this module's agents
	// (see wasmagent/plugin: messaging.send, messaging.publish, channels,
	// state.write, state.read, inference[:MODEL], log, random, wasi). A
	// module's imports must be covered by what it declares, and what it
	// declares must be granted.
	Grants []string `json:"grants,omitempty" yaml:"grants"`
	// Version, if set, is a requirement on the signed manifest's version:
	// "1.2.0", "^1.2", ">=1.0.0 <2.0.0".
	Version string `json:"version,omitempty" yaml:"version"`
	// Digest is the module's SHA-256 in hex; filled in when it is loaded.
	// A replay refuses a module whose digest differs.
	Digest string `json:"digest,omitempty" yaml:"-"`
}

// WASMConfig configures the WebAssembly runtime of a host.
type WASMConfig struct {
	// MaxPages caps every agent's memory in 64 KiB pages (default 256, at
	// most 65536).
	MaxPages uint32 `json:"max_pages,omitempty" yaml:"max_pages"`
	// Fuel is an agent's fuel per tick, shared by all its calls of the
	// tick (default 50 000 000, at most 2^62).
	Fuel uint64 `json:"fuel,omitempty" yaml:"fuel"`
	// InitFuel is the fuel of an agent's instantiation: its module's start
	// function, _initialize and agent_init together (default 20 000 000).
	InitFuel uint64 `json:"init_fuel,omitempty" yaml:"init_fuel"`
	// CacheDir keeps compiled modules on disk between runs.
	CacheDir string `json:"-" yaml:"cache_dir"`
	// Unmetered turns fuel metering off (benchmarks only).
	Unmetered bool `json:"unmetered,omitempty" yaml:"unmetered"`
	// Trust lists public key files or directories of *.pub files: modules
	// must be signed by one of these keys.
	Trust []string `json:"trust,omitempty" yaml:"trust"`
	// AllowUnsigned lets unsigned modules run: a developer flag, recorded
	// in the replay log. Their imports must still be granted.
	AllowUnsigned bool `json:"allow_unsigned,omitempty" yaml:"allow_unsigned"`
	// Engine is wazero's engine: "compiler", "interpreter" or "" (wazero's
	// choice: the compiler on amd64 and arm64). It never changes results,
	// and is not part of the recorded config: a replay picks its own.
	Engine string `json:"-" yaml:"engine"`
	// NoImages starts every WebAssembly agent with its module's full
	// initialisation instead of from the module's pre-initialised image
	// (wasmagent.Module.ImageStage): for tests that show it never changes
	// results. Not a topology setting, nor part of the recorded config.
	NoImages bool `json:"-" yaml:"-"`
	// Watchdog, if set, bounds each guest call in wall-clock time: a
	// backstop behind fuel, off by default. If it ever fires the run is
	// marked not reproducible (Host.Reproducible, the replay log's end).
	Watchdog time.Duration `json:"watchdog,omitempty" yaml:"watchdog"`
}

// runtimeConfig is the wasmagent configuration of a runtime for modules of
// the given page limit (0: the default).
func (c WASMConfig) runtimeConfig(pages uint32) wasmagent.Config {
	if pages == 0 {
		pages = c.MaxPages
	}
	return wasmagent.Config{
		MaxPages: pages, Fuel: c.Fuel, InitFuel: c.InitFuel, CacheDir: c.CacheDir,
		Unmetered: c.Unmetered, Watchdog: c.Watchdog, Engine: c.Engine, NoImages: c.NoImages,
	}
}

func (c WASMConfig) validate() error { return c.runtimeConfig(0).Validate() }

func (m Module) validate() error {
	return errors.Join(wasmagent.CheckFuel("fuel", m.Fuel, "wasm.fuel"), wasmagent.CheckPages("max_pages", m.MaxPages, "wasm.max_pages"))
}

// loadModules compiles opts.Modules; each becomes a kind of its name. It
// fills in each module's digest and refuses one that differs from a digest
// already set (a replay).
func (h *Host) loadModules() error {
	if len(h.opts.Modules) == 0 {
		return nil
	}
	ctx := context.Background()
	var trust *plugin.TrustStore
	if len(h.opts.WASM.Trust) > 0 {
		var err error
		if trust, err = plugin.LoadTrust(h.opts.WASM.Trust...); err != nil {
			return fmt.Errorf("host: trust: %w", err)
		}
	} else if !h.opts.WASM.AllowUnsigned {
		return fmt.Errorf("host: no trusted keys: name public keys under wasm.trust (sign modules with agenthost sign), or set wasm.allow_unsigned (a developer flag, recorded in the replay log)")
	}
	h.wasm = map[uint32]*wasmagent.Runtime{}
	// One wazero runtime per memory limit: wazero caps memory per runtime.
	runtimeFor := func(pages uint32) (*wasmagent.Runtime, error) {
		cfg := h.opts.WASM.runtimeConfig(pages)
		if rt := h.wasm[cfg.MaxPages]; rt != nil {
			return rt, nil
		}
		rt, err := wasmagent.NewRuntime(ctx, cfg)
		if err == nil {
			h.wasm[cfg.MaxPages] = rt
		}
		return rt, err
	}
	h.modules = map[string]*wasmagent.Module{}
	for i := range h.opts.Modules {
		spec := &h.opts.Modules[i]
		if err := agent.ValidateName("module name", spec.Name); err != nil {
			return fmt.Errorf("host: module %d: %w", i, err)
		}
		if h.opts.Kinds[spec.Name] != nil || h.modules[spec.Name] != nil {
			return fmt.Errorf("host: module %q has the name of another kind or module; rename it", spec.Name)
		}
		data, err := fsutil.ReadRegular(spec.Path, fmt.Sprintf("host: module %q", spec.Name), wasmagent.DefaultMaxModuleSize)
		if err != nil {
			return fmt.Errorf("%w (build the guests first: scripts/guests.sh)", err)
		}
		sum := sha256.Sum256(data)
		digest := hex.EncodeToString(sum[:])
		if spec.Digest != "" && spec.Digest != digest {
			return fmt.Errorf("host: module %q (%s) has digest %s, but the run was recorded with %s: replay needs the same module", spec.Name, spec.Path, digest, spec.Digest)
		}
		spec.Digest = digest
		policy := plugin.Policy{Trust: trust, AllowUnsigned: h.opts.WASM.AllowUnsigned, Grants: spec.Grants, Version: spec.Version, ABIVersion: wasmagent.ABIVersion}
		if err := policy.Validate(); err != nil {
			return fmt.Errorf("host: module %q: %w", spec.Name, err)
		}
		man, err := plugin.Verify(data, policy)
		if err != nil {
			return fmt.Errorf("host: module %q (%s): %w", spec.Name, spec.Path, err)
		}
		rt, err := runtimeFor(spec.MaxPages)
		if err != nil {
			return err
		}
		m, err := rt.Load(ctx, spec.Name, data)
		if err != nil {
			return fmt.Errorf("host: %s: %w", spec.Path, err)
		}
		if spec.Fuel > 0 {
			m.Fuel = spec.Fuel
		}
		caps := man.Capabilities
		m.AllowModel = func(model string) bool { return plugin.Allows(caps, plugin.InferenceCapability(model)) }
		h.modules[spec.Name] = m
	}
	return nil
}

// noteWatchdog marks the run not reproducible if a failure of this tick
// came from the wall-clock watchdog.
func (h *Host) noteWatchdog(r TickResult) {
	for _, e := range r.Events {
		if e.Kind == "failed" && strings.Contains(e.Detail, wasmagent.ErrWatchdog.Error()) && h.unreproducible == "" {
			h.unreproducible = fmt.Sprintf("the wall-clock watchdog stopped %s at %s", e.Agent, r.Tick)
			h.opts.Logger.WithField("agent", e.Agent).Warn("host: " + h.unreproducible + "; this run is not reproducible")
		}
	}
}

// Reproducible reports whether every outcome so far was decided by the run's
// inputs alone. It turns false, for good, when the wall-clock watchdog
// stops a guest call; the replay log's end record then says so.
func (h *Host) Reproducible() bool { return h.unreproducible == "" }
