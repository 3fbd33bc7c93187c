package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"path"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// readOnly are the methods the read-only token allows.
var readOnly = map[string]bool{
	Agenthost_Status_FullMethodName:    true,
	Agenthost_Subscribe_FullMethodName: true,
}

// ServerAuth returns the server options that enforce the API's access
// control on every call, unary and streaming, given the full and the
// read-only token (as EnsureTokens returns them):
//
//   - a call over a Unix socket (its peer's network is "unix") is allowed:
//     the socket's file mode decides who can connect;
//   - any other call needs metadata "authorization: Bearer TOKEN": the
//     full token allows every call, the read-only token Status and
//     Subscribe only. Without a token the call fails with
//     codes.Unauthenticated, with the read-only token on another method
//     with codes.PermissionDenied, each saying what to do.
//
// Tokens are compared in constant time (as SHA-256 digests, so not even
// their length leaks). An empty token matches nothing: ServerAuth("", "")
// refuses every call over TCP.
//
// Pass the options to grpc.NewServer; one server can serve the socket and
// a TCP listener.
func ServerAuth(full, read string) []grpc.ServerOption {
	a := &auth{full: digest(full), read: digest(read)}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if err := a.check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			if err := a.check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return handler(srv, ss)
		}),
	}
}

// auth holds the SHA-256 digests of the tokens; nil: no such token.
type auth struct{ full, read []byte }

func digest(tok string) []byte {
	if tok == "" {
		return nil
	}
	d := sha256.Sum256([]byte(tok))
	return d[:]
}

func (a *auth) check(ctx context.Context, method string) error {
	if p, ok := peer.FromContext(ctx); ok && (isUnix(p.Addr) || isUnix(p.LocalAddr)) {
		return nil
	}
	tok := bearer(ctx)
	if tok == "" {
		return status.Errorf(codes.Unauthenticated, "no bearer token: pass --token-file <data-dir>/%s or set %s", TokenFile, TokenEnv)
	}
	d := digest(tok)
	switch {
	case a.full != nil && subtle.ConstantTimeCompare(d, a.full) == 1:
		return nil
	case a.read != nil && subtle.ConstantTimeCompare(d, a.read) == 1:
		if readOnly[method] {
			return nil
		}
		return status.Errorf(codes.PermissionDenied, "the read-only token allows Status and Subscribe only; %s needs the full token in <data-dir>/%s", path.Base(method), TokenFile)
	}
	return status.Errorf(codes.Unauthenticated, "the bearer token is not this daemon's: pass --token-file with a copy of its <data-dir>/%s (or %s), or set %s to it", TokenFile, ReadTokenFile, TokenEnv)
}

// isUnix reports whether a is the address of a Unix socket connection.
func isUnix(a net.Addr) bool {
	switch a := a.(type) {
	case nil:
		return false
	case *net.UnixAddr:
		return true // even a nil one (an unnamed peer): only Unix sockets have them
	default:
		return a.Network() == "unix"
	}
}

// bearer returns the token of the call's "authorization: Bearer TOKEN"
// metadata, or "".
func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		scheme, tok, ok := strings.Cut(v, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
	}
	return ""
}
