package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lockstep-rt/lockstep/internal/fsutil"
	"github.com/lockstep-rt/lockstep/wasmagent"
	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

func newKeygen(stdout io.Writer) *cobra.Command {
	var (
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "keygen --out FILE.key [--force]",
		Short: "Make an ed25519 key pair for signing agent modules (FILE.key and FILE.pub)",
		Long: `Make an ed25519 key pair for signing agent modules: the private key in
FILE.key (mode 0600) and the public key beside it in FILE.pub, which hosts
trust with --trust or wasm.trust. keygen never overwrites an existing key
file (either of the two) unless --force: modules signed with the old key
would no longer verify under the new one.`,
		Example: `  agenthost keygen --out author.key          # author.key + author.pub
  agenthost keygen --out keys/ci.key --force  # replace an existing pair`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if out == "" {
				return errors.New("--out: name the private key file, e.g. --out author.key")
			}
			pubPath := strings.TrimSuffix(out, ".key") + ".pub"
			if !force {
				for _, p := range []string{out, pubPath} {
					if _, err := os.Lstat(p); err == nil {
						return fmt.Errorf("%s already exists; keygen does not overwrite a key (modules it signed would no longer verify): choose another --out, or give --force to replace it", p)
					} else if !errors.Is(err, fs.ErrNotExist) {
						return err
					}
				}
			}
			key, err := plugin.GenerateKey(nil)
			if err != nil {
				return err
			}
			if err := writeKey(out, plugin.MarshalPrivateKey(key), 0o600, force); err != nil {
				return err
			}
			if err := writeKey(pubPath, plugin.MarshalPublicKey(key.Public()), 0o644, force); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "key %s: private %s, public %s\n", key.ID, out, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "private key file to write; the public key goes beside it as .pub")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing key files")
	return cmd
}

// writeKey writes a key file: a new file unless force (then it replaces
// one, with mode perm).
func writeKey(path string, data []byte, perm os.FileMode, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; give --force to replace it", path)
		}
		return err
	}
	if force {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// capAuto is the value of --cap that declares what the imports need.
const capAuto = "auto"

func newSign(stdout io.Writer) *cobra.Command {
	var (
		keyPath, name, version, out string
		caps                        []string
	)
	cmd := &cobra.Command{
		Use:   "sign --key FILE.key --name NAME --version X.Y.Z [--cap CAP]... MODULE.wasm",
		Short: "Embed a signed manifest (name, version, ABI, capabilities) in a module",
		Long: `Embed a signed manifest in a module: its name, semantic version, agent ABI
and declared capabilities, signed with an ed25519 key (agenthost keygen).
Re-signing replaces the old manifest.

The declared capabilities must cover the module's imports (the check
verify and every host apply): sign refuses a module importing a function
whose capability is not declared, naming it. --cap auto declares exactly
the capabilities the imports need, and prints them (inference for
lockstep.infer: any model; declare inference:MODEL yourself to narrow it).`,
		Example: `  agenthost sign --key author.key --name counter --version 1.2.0 --cap messaging.publish --cap state.write counter.wasm
  agenthost sign --key author.key --name counter --version 1.2.1 --cap auto counter.wasm
  agenthost sign --key author.key --name scorer --version 0.3.0 --cap log --cap inference:clf --out signed/scorer.wasm scorer.wasm`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			auto := slices.Contains(caps, capAuto)
			if auto && len(caps) > 1 {
				return fmt.Errorf("--cap auto declares what the imports need: give it alone, not with --cap %s", strings.Join(slices.DeleteFunc(slices.Clone(caps), func(c string) bool { return c == capAuto }), ", --cap "))
			}
			keyData, err := fsutil.ReadRegular(keyPath, "--key", maxKeyFile)
			if err != nil {
				return err
			}
			key, err := plugin.ParsePrivateKey(keyData, keyPath)
			if err != nil {
				return err
			}
			module, err := readModule(args[0])
			if err != nil {
				return err
			}
			declared := caps
			if auto {
				info, err := plugin.Inspect(module)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				declared = info.NeededCapabilities
			}
			m := plugin.Manifest{Name: name, Version: version, ABIVersion: wasmagent.ABIVersion, Capabilities: declared}
			if err := plugin.CheckImports(module, m); err != nil {
				var pe *plugin.Error
				if errors.As(err, &pe) && pe.Capability != "" {
					return fmt.Errorf("%s: not signed: %w (declare it with --cap %s, or --cap auto for exactly what the imports need)", args[0], err, pe.Capability)
				}
				return fmt.Errorf("%s: not signed: %w", args[0], err)
			}
			signed, err := plugin.Sign(module, m, key)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if out == "" {
				out = args[0]
			}
			if err := os.WriteFile(out, signed, 0o644); err != nil {
				return err
			}
			if auto {
				fmt.Fprintf(stdout, "capabilities (what the imports need): %s\n", listOrNone(declared))
			}
			fmt.Fprintf(stdout, "signed %s %s with key %s: %s\n", name, version, key.ID, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyPath, "key", "", "private key file (agenthost keygen)")
	f.StringVar(&name, "name", "", "module name")
	f.StringVar(&version, "version", "", "semantic version, e.g. 1.2.0")
	f.StringSliceVar(&caps, "cap", nil, "declared capability (repeat): "+strings.Join(plugin.Capabilities(), ", ")+", inference:MODEL; or auto: what the imports need")
	f.StringVar(&out, "out", "", "write the signed module here (default: in place)")
	return cmd
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// inspectJSON is inspect -o json.
type inspectJSON struct {
	Module             string        `json:"module"`
	Size               int           `json:"size"`
	Manifest           *manifestJSON `json:"manifest"`
	Signature          string        `json:"signature"`
	Imports            []string      `json:"imports"`
	NeededCapabilities []string      `json:"capabilities_needed"`
	UnknownImports     []string      `json:"unknown_imports"`
}

// manifestJSON is a manifest as inspect and verify -o json print it.
type manifestJSON struct {
	Name         string   `json:"name"`
	Version      string   `json:"version"`
	ABIVersion   uint32   `json:"abi_version"`
	KeyID        string   `json:"key_id"`
	Capabilities []string `json:"capabilities"`
	ModuleDigest string   `json:"module_digest"`
}

func manifestOf(m *plugin.Manifest) *manifestJSON {
	if m == nil {
		return nil
	}
	return &manifestJSON{Name: m.Name, Version: m.Version, ABIVersion: m.ABIVersion, KeyID: m.KeyID,
		Capabilities: orEmpty(m.Capabilities), ModuleDigest: hex.EncodeToString(m.ModuleDigest)}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newInspect(stdout io.Writer) *cobra.Command {
	var out outputFormat
	cmd := &cobra.Command{
		Use:   "inspect MODULE.wasm [-o text|json]",
		Short: "Show a module's manifest, imports, the capabilities they need and its signature status",
		Long: `Show a module's manifest (decoded, not verified: agenthost verify --trust KEY
checks the signature), whether it carries a signature, its imports, the
capabilities they need and the imports no capability covers.

-o json prints one object:
  {"module","size","manifest":{"name","version","abi_version","key_id",
   "capabilities","module_digest"} or null (unsigned),
   "signature":"present" or "none","imports":[...],
   "capabilities_needed":[...],"unknown_imports":[...]}`,
		Example: `  agenthost inspect counter.wasm
  agenthost inspect -o json counter.wasm | jq .capabilities_needed`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			module, err := readModule(args[0])
			if err != nil {
				return err
			}
			info, err := plugin.Inspect(module)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if out == "json" {
				return writeJSON(stdout, inspectJSON{Module: args[0], Size: len(module), Manifest: manifestOf(info.Manifest),
					Signature: map[bool]string{true: "present", false: "none"}[info.Signed], Imports: orEmpty(info.Imports),
					NeededCapabilities: orEmpty(info.NeededCapabilities), UnknownImports: orEmpty(info.UnknownImports)})
			}
			fmt.Fprintf(stdout, "module: %s (%d bytes)\n", args[0], len(module))
			if m := info.Manifest; m != nil {
				fmt.Fprintf(stdout, "manifest: %s %s, ABI %d, key %s\n", m.Name, m.Version, m.ABIVersion, m.KeyID)
				fmt.Fprintf(stdout, "declared capabilities: %s\n", strings.Join(m.Capabilities, ", "))
			} else {
				fmt.Fprintln(stdout, "manifest: none (unsigned)")
			}
			fmt.Fprintf(stdout, "signature: %s\n", map[bool]string{true: "present (agenthost verify --trust KEY checks it)", false: "none"}[info.Signed])
			fmt.Fprintf(stdout, "imports: %s\n", strings.Join(info.Imports, ", "))
			fmt.Fprintf(stdout, "capabilities needed: %s\n", strings.Join(info.NeededCapabilities, ", "))
			if len(info.UnknownImports) > 0 {
				fmt.Fprintf(stdout, "imports no capability covers: %s\n", strings.Join(info.UnknownImports, ", "))
			}
			return nil
		},
	}
	addOutput(cmd, &out)
	return cmd
}

// verifyModuleJSON is verify -o json of a module.
type verifyModuleJSON struct {
	Module       string   `json:"module"`
	Verified     bool     `json:"verified"`
	Name         string   `json:"name"`
	Version      string   `json:"version"`
	KeyID        string   `json:"key_id"`
	Capabilities []string `json:"capabilities"`
	Error        string   `json:"error,omitempty"`
}

// verifyModule checks a module's signature under the trusted keys, granting
// what it declares.
func verifyModule(stdout io.Writer, format outputFormat, path string, module []byte, trust []string, version string) error {
	if len(trust) == 0 {
		return errors.New("--trust: name the public key files (or directories of .pub files) to trust")
	}
	store, err := plugin.LoadTrust(trust...)
	if err != nil {
		return err
	}
	info, err := plugin.Inspect(module)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var grants []string
	if info.Manifest != nil {
		grants = info.Manifest.Capabilities
	}
	m, err := plugin.Verify(module, plugin.Policy{Trust: store, Grants: grants, Version: version, ABIVersion: wasmagent.ABIVersion})
	if format == "json" {
		j := verifyModuleJSON{Module: path, Verified: err == nil, Capabilities: []string{}}
		if err != nil {
			j.Error = err.Error()
			if info.Manifest != nil {
				j.Name, j.Version, j.KeyID = info.Manifest.Name, info.Manifest.Version, info.Manifest.KeyID
			}
		} else {
			j.Name, j.Version, j.KeyID, j.Capabilities = m.Name, m.Version, m.KeyID, orEmpty(m.Capabilities)
		}
		if werr := writeJSON(stdout, j); werr != nil {
			return werr
		}
	}
	if err != nil {
		return &exitError{exitFailed, fmt.Errorf("%s: %w", path, err)}
	}
	if format != "json" {
		fmt.Fprintf(stdout, "verified: %s %s signed by key %s; capabilities: %s\n", m.Name, m.Version, m.KeyID, strings.Join(m.Capabilities, ", "))
	}
	return nil
}

// maxKeyFile bounds a private key file (a few hundred bytes).
const maxKeyFile = 64 << 10

// readModule reads a module: a regular file of at most the size a host
// loads.
func readModule(path string) ([]byte, error) {
	return fsutil.ReadRegular(path, "module", wasmagent.DefaultMaxModuleSize)
}

// isWasm tells a module from a replay log by its first bytes, and reads a
// module whole (a log is read by verify, as a stream).
func isWasm(path string) ([]byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	f.Close()
	if err != nil || !bytes.Equal(magic, []byte("\x00asm")) {
		return nil, false, nil
	}
	data, err := readModule(path)
	return data, err == nil, err
}
