// Package plugin decides which WebAssembly agent modules a Lockstep host
// may run: signed by a trusted key, built for the host's ABI, at an
// acceptable version, and asking only for the powers the host grants.
//
// # Authors
//
//  1. GenerateKey once; keep MarshalPrivateKey's file secret and publish
//     MarshalPublicKey's (a ".pub" file).
//  2. Inspect the built module: NeededCapabilities is the least the
//     manifest must declare.
//  3. Sign(module, Manifest{Name, Version, ABIVersion: 1, Capabilities},
//     key) and ship the one file it returns.
//
// # Hosts
//
//  1. LoadTrust the operators' trusted key files or directories (every
//     *.pub inside). Trust several keys to rotate: old and new both verify
//     until the old one is removed.
//  2. Per agent, build a Policy: Trust, the Grants of its configuration, an
//     optional Version requirement, the host's ABIVersion, and
//     AllowUnsigned only behind an explicit developer flag, which the host
//     records (replay log header). Policy.Validate at configuration time.
//  3. Verify(module, policy) before compiling. A non-nil error is an
//     [*Error] naming the module, the import or capability and the fix; it
//     matches one sentinel (ErrUnsigned, ErrBadSignature, ErrUntrustedKey,
//     ErrDigestMismatch, ErrABIMismatch, ErrVersion, ErrUndeclaredImport,
//     ErrNotGranted, ErrMalformed).
//  4. Run the verified bytes, and enforce at run time what imports cannot
//     express: Allows(manifest.Capabilities, InferenceCapability(model))
//     before an inference.
//
// # Capabilities
//
//	capability         host imports it allows
//	messaging.send     lockstep.send
//	messaging.publish  lockstep.publish
//	channels           lockstep.join, lockstep.leave
//	state.write        lockstep.state_write
//	state.read         lockstep.state_read
//	inference          lockstep.infer, any model
//	inference:MODEL    lockstep.infer, model MODEL only (checked at run time)
//	log                lockstep.log
//	random             lockstep.random
//	wasi               every wasi_snapshot_preview1 import
//	(none)             lockstep.tick, lockstep.config
//
// Every import must be covered by a declared capability, and every declared
// capability must be granted ("inference" grants every inference:MODEL). A
// module may declare more than it imports, if the host grants it.
//
// # Format
//
// The manifest is the protobuf message lockstep.plugin.v1.Manifest
// (internal/manifestpb/manifest.proto). It travels inside the module, in a
// custom section (id 0) named "lockstep.manifest" that is the module's last
// section. The section's payload is a lockstep.plugin.v1.Section: the
// encoded manifest and an ed25519 signature over
//
//	"lockstep.plugin.v1 signature\x00" || uint64 big-endian len(S) || S || manifest bytes
//
// where S is the module without its manifest section. The manifest holds
// SHA-256(S) as its digest and the signing key's ID (16 hex digits of the
// SHA-256 of the public key). So every byte outside the section is signed,
// the manifest bytes are signed, and the section's own framing is checked
// to be the one canonical encoding Sign writes: Verify accepts exactly the
// bytes Sign produced, and a flipped byte anywhere is a rejection.
//
// A module that carries a manifest section, or what one looks like after
// damage (see [Verify]), is verified or refused: AllowUnsigned never runs
// it as unsigned.
//
// Key files are one line, "lockstep-ed25519-public BASE64" (the 32-byte
// key) or "lockstep-ed25519-private BASE64" (the 32-byte seed); blank lines
// and # comments are ignored.
//
// # Why a custom section?
//
// One file ships, and a runtime that knows nothing of Lockstep still runs
// it (custom sections are skipped). Signing the module with the section
// removed, rather than a detached signature, keeps the module and its
// manifest from being separated or mixed up. Stripping exactly that
// section, and requiring it last and canonical, leaves no byte an attacker
// may change.
package plugin
