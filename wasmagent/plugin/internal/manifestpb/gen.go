// Package manifestpb holds the protobuf messages of plugin manifests
// (manifest.proto, package lockstep.plugin.v1). Package plugin converts them
// to and from its Go view; nothing else should import this package.
//
// manifest.pb.go is generated from manifest.proto and committed. Regenerate
// it after editing manifest.proto with
//
//	go generate ./wasmagent/plugin/internal/manifestpb
//
// internal/protogen builds protoc-gen-go from the google.golang.org/protobuf version
// that go.mod pins into a temporary directory and runs the system protoc
// with it, so the output depends only on those two versions (protoc 3.21.12,
// protoc-gen-go v1.36.12 when this was written) and is byte-for-byte
// reproducible. It is the same procedure as host/replaylog's.
package manifestpb

//go:generate go run ../../../../internal/protogen -root ../../../.. wasmagent/plugin/internal/manifestpb/manifest.proto
