package plugin

import (
	"fmt"
	"slices"
	"strings"
)

// Capability names. A module declares the capabilities it needs in its
// manifest; the host grants capabilities per agent. Each host import needs
// one capability (see [ImportCapability] and the table in the package
// documentation); lockstep.tick and lockstep.config need none.
const (
	// CapMessagingSend allows lockstep.send: direct messages to agents.
	CapMessagingSend = "messaging.send"
	// CapMessagingPublish allows lockstep.publish: messages to channels.
	CapMessagingPublish = "messaging.publish"
	// CapChannels allows lockstep.join and lockstep.leave.
	CapChannels = "channels"
	// CapStateWrite allows lockstep.state_write: writing the agent's own
	// state regions.
	CapStateWrite = "state.write"
	// CapStateRead allows lockstep.state_read: reading any agent's state
	// regions as of the previous tick.
	CapStateRead = "state.read"
	// CapInference allows lockstep.infer with any model. The narrower
	// "inference:MODEL" (see [InferenceCapability]) allows one model; it
	// covers the infer import too, and the host refuses other models at run
	// time.
	CapInference = "inference"
	// CapLog allows lockstep.log.
	CapLog = "log"
	// CapRandom allows lockstep.random: the agent's seeded random stream.
	CapRandom = "random"
	// CapWASI allows every import from wasi_snapshot_preview1 (tick-driven
	// clocks, seeded random, no filesystem, environment or arguments).
	CapWASI = "wasi"
)

// Import module names.
const (
	// HostModule is the module of the Lockstep host functions (sdk/ABI.md).
	HostModule = "lockstep"
	// WASIModule is the WASI preview 1 module, covered by [CapWASI].
	WASIModule = "wasi_snapshot_preview1"
)

// capabilityDocs documents every capability; its keys are the set of
// capabilities.
var capabilityDocs = map[string]string{
	CapMessagingSend:    "send direct messages to agents (lockstep.send)",
	CapMessagingPublish: "publish messages to channels (lockstep.publish)",
	CapChannels:         "join and leave channels (lockstep.join, lockstep.leave)",
	CapStateWrite:       "write the agent's own state regions (lockstep.state_write)",
	CapStateRead:        "read agents' state regions as of the previous tick (lockstep.state_read)",
	CapInference:        "request inferences from any model (lockstep.infer); inference:MODEL allows one model",
	CapLog:              "write log lines (lockstep.log)",
	CapRandom:           "draw from the agent's seeded random stream (lockstep.random)",
	CapWASI:             "import wasi_snapshot_preview1 (tick clocks, seeded random, no files, environment or arguments)",
}

// hostImports maps every function of the lockstep host module (ABI v1) to
// the capability it needs; "" means none.
var hostImports = map[string]string{
	"send":        CapMessagingSend,
	"publish":     CapMessagingPublish,
	"join":        CapChannels,
	"leave":       CapChannels,
	"state_write": CapStateWrite,
	"state_read":  CapStateRead,
	"infer":       CapInference,
	"log":         CapLog,
	"random":      CapRandom,
	"tick":        "",
	// config reads the agent's own config (its topology config:), which
	// the host's operator wrote for it: nothing to withhold.
	"config": "",
}

// Capabilities returns every capability name, sorted. "inference:MODEL"
// forms are not listed; see [CapInference].
func Capabilities() []string {
	caps := make([]string, 0, len(capabilityDocs))
	for c := range capabilityDocs {
		caps = append(caps, c)
	}
	slices.Sort(caps)
	return caps
}

// CapabilityDoc returns a one-line description of a capability, or "" if
// c is not one.
func CapabilityDoc(c string) string {
	if model, ok := strings.CutPrefix(c, CapInference+":"); ok && validName(model) {
		return fmt.Sprintf("request inferences from model %s (lockstep.infer)", model)
	}
	return capabilityDocs[c]
}

// ImportCapability returns the capability an import needs. ok is false for
// an import no capability covers: an unknown module, or a function ABI v1's
// lockstep module does not have. lockstep.tick and lockstep.config need no
// capability: they return "", true.
func ImportCapability(module, name string) (capability string, ok bool) {
	switch module {
	case HostModule:
		capability, ok = hostImports[name]
		return capability, ok
	case WASIModule:
		return CapWASI, true
	}
	return "", false
}

// InferenceCapability returns the capability that allows inference with
// one model: "inference:" + model.
func InferenceCapability(model string) string { return CapInference + ":" + model }

// CheckCapability returns nil if c is a capability: one of [Capabilities]
// or "inference:MODEL" with a valid model name, and otherwise an error that
// says what to write instead.
func CheckCapability(c string) error {
	if _, ok := capabilityDocs[c]; ok {
		return nil
	}
	if model, ok := strings.CutPrefix(c, CapInference+":"); ok {
		if validName(model) {
			return nil
		}
		return fmt.Errorf("capability %q: the model name must be 1-%d bytes of letters, digits and ._-/:", c, maxNameLen)
	}
	return fmt.Errorf("%q is not a capability (known: %s, or inference:MODEL)", c, strings.Join(Capabilities(), ", "))
}

// Allows reports whether the capability set caps allows capability c:
// c is in caps, or c is "inference:MODEL" and caps holds "inference".
// A host asks Allows(manifest.Capabilities, InferenceCapability(model))
// before running an inference.
func Allows(caps []string, c string) bool {
	if slices.Contains(caps, c) {
		return true
	}
	return strings.HasPrefix(c, CapInference+":") && slices.Contains(caps, CapInference)
}

// covers reports whether caps cover the need of an import: need itself, or
// for inference, any inference capability.
func covers(caps []string, need string) bool {
	if need == CapInference {
		return slices.ContainsFunc(caps, isInference)
	}
	return slices.Contains(caps, need)
}

func isInference(c string) bool {
	return c == CapInference || strings.HasPrefix(c, CapInference+":")
}

// maxNameLen bounds module and model names, like the ABI's names.
const maxNameLen = 128

// validName reports whether s is 1-128 bytes of letters, digits and
// ._-/: (the ABI's rule for agent, channel and region names).
func validName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-', c == '/', c == ':':
		default:
			return false
		}
	}
	return true
}

// normalizeCapabilities returns caps sorted without duplicates.
func normalizeCapabilities(caps []string) []string {
	out := slices.Clone(caps)
	slices.Sort(out)
	return slices.Compact(out)
}
