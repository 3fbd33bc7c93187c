package replaylog

// replay.pb.go is generated from replay.proto and committed. Regenerate it
// after editing replay.proto with
//
//	go generate ./host/replaylog
//
// internal/protogen builds protoc-gen-go from the google.golang.org/protobuf version
// that go.mod pins into a temporary directory and runs the system protoc
// with it, so the output depends only on those two versions (protoc 3.21.12,
// protoc-gen-go v1.36.12 when this was written) and is byte-for-byte
// reproducible.

//go:generate go run ../../internal/protogen replay.proto
