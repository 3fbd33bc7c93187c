// Package fedpb holds the protobuf messages of a federated run (package
// host/federation). federation.pb.go is generated from federation.proto
// and committed; regenerate it after editing the .proto with
//
//	go generate ./host/federation/fedpb
package fedpb

//go:generate go run ../../../internal/protogen -root ../../.. host/federation/fedpb/federation.proto
