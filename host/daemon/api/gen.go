package api

// daemon.pb.go and daemon_grpc.pb.go are generated from daemon.proto and
// committed. Regenerate them after editing daemon.proto with
//
//	go generate ./host/daemon/api
//
// internal/protogen builds protoc-gen-go from the google.golang.org/protobuf
// version go.mod pins and protoc-gen-go-grpc from the version go.mod
// requires as a tool, into a temporary directory, and runs the system protoc
// with them, so the output depends only on those three versions (protoc
// 3.21.12, protoc-gen-go v1.36.12, protoc-gen-go-grpc v1.6.2 when this was
// written) and is byte-for-byte reproducible. It is the same procedure as
// host/replaylog's.

//go:generate go run ../../../internal/protogen -grpc -root ../../.. host/daemon/api/daemon.proto
