package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lockstep-rt/lockstep/internal/fsutil"
	"github.com/lockstep-rt/lockstep/wasmagent"
	"github.com/lockstep-rt/lockstep/wasmagent/plugin"
)

func newKeygen(stdout io.Writer) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out FILE.key",
		Short: "Make an ed25519 key pair for signing agent modules (FILE.key and FILE.pub)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if out == "" {
				return errors.New("--out: name the private key file, e.g. --out author.key")
			}
			key, err := plugin.GenerateKey(nil)
			if err != nil {
				return err
			}
			pubPath := strings.TrimSuffix(out, ".key") + ".pub"
			if err := os.WriteFile(out, plugin.MarshalPrivateKey(key), 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(pubPath, plugin.MarshalPublicKey(key.Public()), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "key %s: private %s, public %s\n", key.ID, out, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "private key file to write; the public key goes beside it as .pub")
	return cmd
}

func newSign(stdout io.Writer) *cobra.Command {
	var (
		keyPath, name, version, out string
		caps                        []string
	)
	cmd := &cobra.Command{
		Use:   "sign --key FILE.key --name NAME --version X.Y.Z [--cap CAP]... MODULE.wasm",
		Short: "Embed a signed manifest (name, version, ABI, capabilities) in a module",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
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
			signed, err := plugin.Sign(module, plugin.Manifest{Name: name, Version: version, ABIVersion: wasmagent.ABIVersion, Capabilities: caps}, key)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if out == "" {
				out = args[0]
			}
			if err := os.WriteFile(out, signed, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "signed %s %s with key %s: %s\n", name, version, key.ID, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&keyPath, "key", "", "private key file (agenthost keygen)")
	f.StringVar(&name, "name", "", "module name")
	f.StringVar(&version, "version", "", "semantic version, e.g. 1.2.0")
	f.StringSliceVar(&caps, "cap", nil, "declared capability (repeat): "+strings.Join(plugin.Capabilities(), ", "))
	f.StringVar(&out, "out", "", "write the signed module here (default: in place)")
	return cmd
}

func newInspect(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect MODULE.wasm",
		Short: "Show a module's manifest, imports, the capabilities they need and its signature status",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			module, err := readModule(args[0])
			if err != nil {
				return err
			}
			info, err := plugin.Inspect(module)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
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
}

// verifyModule checks a module's signature under the trusted keys, granting
// what it declares.
func verifyModule(stdout io.Writer, path string, module []byte, trust []string, version string) error {
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
	if err != nil {
		return &exitError{1, fmt.Errorf("%s: %w", path, err)}
	}
	fmt.Fprintf(stdout, "verified: %s %s signed by key %s; capabilities: %s\n", m.Name, m.Version, m.KeyID, strings.Join(m.Capabilities, ", "))
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
