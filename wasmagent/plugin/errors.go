package plugin

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every rejection by [Verify] is an [*Error] that matches
// exactly one of them with [errors.Is]. Malformed keys, trust files and
// modules given to [Sign] or [Inspect] match [ErrMalformed].
var (
	// ErrUnsigned: the module has no manifest section and the policy does
	// not allow unsigned modules.
	ErrUnsigned = errors.New("plugin: module is not signed")
	// ErrBadSignature: the signature does not verify under the key the
	// manifest names: the manifest or the module changed after signing, or
	// another key signed it.
	ErrBadSignature = errors.New("plugin: bad signature")
	// ErrUntrustedKey: the manifest names a key the trust store lacks.
	ErrUntrustedKey = errors.New("plugin: signed by an untrusted key")
	// ErrDigestMismatch: the module's code is not what the manifest's
	// digest describes.
	ErrDigestMismatch = errors.New("plugin: module digest mismatch")
	// ErrABIMismatch: the manifest's ABI version is not the host's.
	ErrABIMismatch = errors.New("plugin: ABI version mismatch")
	// ErrVersion: the manifest's version does not meet the required one.
	ErrVersion = errors.New("plugin: version requirement not met")
	// ErrUndeclaredImport: the module imports a function no declared (or,
	// for an unsigned module, granted) capability covers.
	ErrUndeclaredImport = errors.New("plugin: import not covered by a declared capability")
	// ErrNotGranted: the manifest declares a capability the host does not
	// grant this agent.
	ErrNotGranted = errors.New("plugin: capability not granted")
	// ErrMalformed: bytes that do not parse: a module, a manifest section,
	// a manifest, a signature or a key file.
	ErrMalformed = errors.New("plugin: malformed")
)

// Error is a rejection of a module. It says which module (when its manifest
// could be read), what is wrong and how to fix it.
type Error struct {
	// Err is the sentinel this error matches, e.g. [ErrNotGranted].
	Err error
	// Module is the manifest's name and Version its version; both are ""
	// when the module has no readable manifest. Of a damaged manifest they
	// are what could be read of it, unverified.
	Module, Version string
	// Import is the import concerned ("lockstep.send"), if any.
	Import string
	// Capability is the capability concerned ("messaging.send"), if any.
	Capability string
	// Reason says what is wrong and what to do about it.
	Reason string
}

// Error returns "<sentinel>: module "name" version: reason", without the
// module part when the module has no readable manifest.
func (e *Error) Error() string {
	switch {
	case e.Module != "" && e.Version != "":
		return fmt.Sprintf("%v: module %q %s: %s", e.Err, e.Module, e.Version, e.Reason)
	case e.Module != "":
		return fmt.Sprintf("%v: module %q: %s", e.Err, e.Module, e.Reason)
	}
	return fmt.Sprintf("%v: %s", e.Err, e.Reason)
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// reject builds an *Error about the module m describes (m may be nil).
func reject(m *Manifest, sentinel error, format string, args ...any) *Error {
	e := &Error{Err: sentinel, Reason: fmt.Sprintf(format, args...)}
	if m != nil {
		// Before the signature is checked these are untrusted input.
		e.Module, e.Version = truncate(m.Name, maxNameLen), truncate(m.Version, maxNameLen)
	}
	return e
}

// malformed wraps ErrMalformed for inputs that are not modules (key and
// trust files).
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
