// Package api is the gRPC API of agenthost serve: the messages and the
// Agenthost service of daemon.proto (package lockstep.daemon.v1), generated
// into daemon.pb.go and daemon_grpc.pb.go, and what both ends of a
// connection share:
//
//   - the names of the files in the daemon's data directory (SocketFile,
//     TokenFile, ReadTokenFile) and EnsureTokens, which makes or reads the
//     two access tokens;
//   - ServerAuth, the access control of the server: every call over the
//     Unix socket, over TCP only with a bearer token, the read-only one
//     limited to Status and Subscribe;
//   - Dial, the client's connection, over the socket or TCP with a token.
//
// Why a token and not TLS: the socket is the local way in and is protected
// by its file mode; TCP is plaintext and meant for trusted networks or for
// use behind a TLS-terminating proxy. A token in plaintext can be read by
// anyone on the path, so over an untrusted network put TLS in front.
package api

// The files of the daemon's data directory that clients use.
const (
	// SocketFile is the daemon's Unix socket (mode 0600). Every call is
	// allowed over it: its file mode is the access control.
	SocketFile = "agenthost.sock"
	// TokenFile holds the full token: over TCP it allows every call.
	TokenFile = "token"
	// ReadTokenFile holds the read-only token: over TCP it allows Status
	// and Subscribe only.
	ReadTokenFile = "token.read"
)

// The environment variables the agenthost CLI reads.
const (
	// DataDirEnv names the data directory when --data-dir is not given.
	DataDirEnv = "LOCKSTEP_DATA_DIR"
	// TokenEnv holds the token for TCP when --token-file is not given.
	TokenEnv = "LOCKSTEP_TOKEN"
)
