package host

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/lockstep-rt/lockstep/internal/fsutil"
	"github.com/lockstep-rt/lockstep/modelactor"
	"github.com/lockstep-rt/lockstep/wasmagent"
	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

// ErrNotFound is matched (errors.Is) by the errors of [Topology.CheckFiles]
// about what is not there: a module or model file that does not exist, a
// kind neither a factory nor a module provides, a key or the permission
// (allow_unsigned) a module needs that was not given.
var ErrNotFound = errors.New("host: not found")

type notFound struct{ error }

func (notFound) Is(target error) bool { return target == ErrNotFound }

// CheckFiles checks, without running anything, what a run of the topology
// would check when it starts: every agent's kind is one of kinds or a
// module of the topology; every module is a regular file under the size
// cap that plugin.Verify accepts under the topology's wasm.trust,
// wasm.allow_unsigned and the module's grants and version requirement (its
// signature, ABI version, declared capabilities); every model is a regular
// file with its declared sha256. Modules are not compiled nor models
// loaded. It returns every problem found (joined), each at its place in
// the topology file; those about something missing match [ErrNotFound].
func (t *Topology) CheckFiles(kinds map[string]Factory) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	modules := map[string]int{}
	for i, m := range t.Modules {
		item := fmt.Sprintf("modules[%d]", i)
		if kinds[m.Name] != nil {
			add(t.errorAt(item+".name", item, "module %q has the name of a kind of this program; rename it", m.Name))
		} else if j, dup := modules[m.Name]; dup {
			add(t.errorAt(item+".name", item, "module %q is also modules[%d]; give each module its own name", m.Name, j))
		}
		modules[m.Name] = i
	}
	for i, a := range t.Agents {
		if _, ok := modules[a.Kind]; ok || kinds[a.Kind] != nil {
			continue
		}
		item := fmt.Sprintf("agents[%d]", i)
		known := slices.Sorted(func(yield func(string) bool) {
			for k := range kinds {
				if !yield(k) {
					return
				}
			}
			for k := range modules {
				if !yield(k) {
					return
				}
			}
		})
		add(notFound{t.errorAt(item+".kind", item, "agent %q: unknown kind %q (known kinds: %s); add a module of that name under modules:", a.ID, a.Kind, strings.Join(known, ", "))})
	}
	add(t.checkModuleFiles())
	for i, m := range t.Models {
		add(t.checkModelFile(fmt.Sprintf("models[%d]", i), m))
	}
	return errors.Join(errs...)
}

func (t *Topology) checkModuleFiles() error {
	if len(t.Modules) == 0 {
		return nil
	}
	var trust *plugin.TrustStore
	switch {
	case len(t.WASM.Trust) > 0:
		var err error
		if trust, err = plugin.LoadTrust(t.WASM.Trust...); err != nil {
			err = t.errorAt("wasm.trust", "wasm", "trust: %w", err)
			if errors.Is(err, fs.ErrNotExist) {
				err = notFound{err}
			}
			return err
		}
	case !t.WASM.AllowUnsigned:
		return notFound{t.errorAt("modules", "", "no trusted keys: name public keys under wasm.trust (or give --trust; sign modules with agenthost sign), or allow unsigned modules with wasm.allow_unsigned (or --allow-unsigned: a developer flag, recorded in the replay log)")}
	}
	var errs []error
	for i, m := range t.Modules {
		item := fmt.Sprintf("modules[%d]", i)
		data, err := fsutil.ReadRegular(m.Path, "module "+m.Name, wasmagent.DefaultMaxModuleSize)
		if err != nil {
			err = t.errorAt(item+".path", item, "%w", err)
			if errors.Is(err, fs.ErrNotExist) {
				err = notFound{fmt.Errorf("%w (build the guests first: scripts/guests.sh)", err)}
			}
			errs = append(errs, err)
			continue
		}
		policy := plugin.Policy{Trust: trust, AllowUnsigned: t.WASM.AllowUnsigned, Grants: m.Grants, Version: m.Version, ABIVersion: wasmagent.ABIVersion}
		if _, err := plugin.Verify(data, policy); err != nil {
			err = t.errorAt(item, item, "module %q (%s): %w", m.Name, m.Path, err)
			if errors.Is(err, plugin.ErrUntrustedKey) || errors.Is(err, plugin.ErrUnsigned) {
				err = notFound{err}
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkModelFile checks that a model's file is there, regular, under the
// size cap, with its sha256, reading it as a stream.
func (t *Topology) checkModelFile(item string, m Model) error {
	f, err := os.Open(m.Path)
	if err != nil {
		err = t.errorAt(item+".path", item, "model %s: %w", m.Key(), err)
		if errors.Is(err, fs.ErrNotExist) {
			err = notFound{err}
		}
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return t.errorAt(item+".path", item, "model %s: %v", m.Key(), err)
	case !st.Mode().IsRegular():
		return t.errorAt(item+".path", item, "model %s: %s is not a regular file; give the path of an .onnx file", m.Key(), m.Path)
	case st.Size() > modelactor.MaxModelFileSize:
		return t.errorAt(item+".path", item, "model %s: %s has %d bytes, over the limit of %d", m.Key(), m.Path, st.Size(), int64(modelactor.MaxModelFileSize))
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, modelactor.MaxModelFileSize+1)); err != nil {
		return t.errorAt(item+".path", item, "model %s: reading %s: %v", m.Key(), m.Path, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(sum, m.SHA256) {
		return t.errorAt(item+".sha256", item, "model %s: %s has sha256 %s, the topology says %s: the file changed or is corrupt; restore it or declare the new sha256", m.Key(), m.Path, sum, m.SHA256)
	}
	return nil
}
