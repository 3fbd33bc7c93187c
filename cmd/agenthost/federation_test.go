package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lockstep-rt/lockstep/internal/guests"
)

// proc is an agenthost process whose stderr a test reads line by line.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	out   strings.Builder // every line read so far
	done  chan error
}

// startProc starts agenthost with args.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "LOCKSTEP_AGENTHOST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 1024), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return p
}

// waitFor reads stderr until a line containing s, and returns it.
func (p *proc) waitFor(t *testing.T, s string) string {
	t.Helper()
	for line := range p.lines {
		fmt.Fprintln(&p.out, line)
		if strings.Contains(line, s) {
			return line
		}
	}
	t.Fatalf("agenthost %v ended without a line containing %q: %v\n%s", p.cmd.Args[1:], s, <-p.done, p.out.String())
	return ""
}

// wait reads the rest of stderr and returns the exit.
func (p *proc) wait() error {
	for line := range p.lines {
		fmt.Fprintln(&p.out, line)
	}
	return <-p.done
}

// roleFlags are extra flags of a federation's coordinator and members.
type roleFlags struct{ coord, member []string }

// startFederation starts a coordinator serving the default topology on
// data directory dir ("": a new one) and members named names, with extra
// flags, and returns once the run is on.
func startFederation(t *testing.T, ticks int, dir string, names []string, extra roleFlags) (coord *proc, members map[string]*proc, dataDir, mods string) {
	t.Helper()
	mods, err := guests.Dir()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	tok := filepath.Join(tmp, "token")
	if err := os.WriteFile(tok, []byte("a shared secret of the test's federation\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(os.TempDir(), "lockstep-test-wazero-cache")
	if dir == "" {
		dir = filepath.Join(tmp, "d0")
	}
	coord = startProc(t, append([]string{"serve", "--data-dir", dir, "--module-dir", mods, "--wasm-cache", cache, "--clock", "free", "--ticks", fmt.Sprint(ticks),
		"--federation", "coordinator", "--federation-listen", "127.0.0.1:0", "--members", fmt.Sprint(len(names)), "--token-file", tok}, extra.coord...)...)
	line := coord.waitFor(t, "federation: waiting for")
	addr := line[strings.LastIndex(line, " ")+1:]
	members = map[string]*proc{}
	for _, n := range names {
		members[n] = startProc(t, append([]string{"serve", "--federation", "member", "--join", addr, "--name", n, "--token-file", tok,
			"--module-dir", mods, "--allow-unsigned", "--wasm-cache", cache}, extra.member...)...)
	}
	coord.waitFor(t, "federation: running on coordinator, ")
	return coord, members, dir, mods
}

// oneHostDigest is the digest of the default topology run on one host
// for ticks ticks.
func oneHostDigest(t *testing.T, mods string, ticks uint64) string {
	t.Helper()
	out, err := agenthost(t, "run", "--module-dir", mods, "--ticks", fmt.Sprint(ticks), "--log-level", "error")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m := digestRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no digest in %s", out)
	}
	return m[1]
}

// verifyDir verifies a data directory's log and returns its ticks and
// final digest.
func verifyDir(t *testing.T, dir, mods string) (ticks uint64, digest string) {
	t.Helper()
	out, err := agenthost(t, "verify", "--module-dir", mods, "--allow-unsigned", dir)
	if err != nil {
		t.Fatalf("verify %s: %v\n%s", dir, err, out)
	}
	if _, err := fmt.Sscanf(out, "identical: %d ticks, digest %s", &ticks, &digest); err != nil {
		t.Fatalf("verify said %q", out)
	}
	return ticks, digest
}

// TestServeFederation runs agenthost serve as a coordinator and two
// member processes on 127.0.0.1 for 23 ticks with a checkpoint every 10:
// each exits 0, and the coordinator's log verifies on one host with the
// digest of the topology run on one host. Then the coordinator resumes the
// run on its data directory, from its checkpoint of tick 20, with one new
// member, and runs it to tick 35: the same again.
func TestServeFederation(t *testing.T) {
	coord, members, dir, mods := startFederation(t, 23, "", []string{"m1", "m2"}, roleFlags{coord: []string{"--checkpoint-every", "10"}})
	finish := func(coord *proc, members map[string]*proc, ticks uint64) {
		t.Helper()
		if err := coord.wait(); err != nil {
			t.Fatalf("coordinator: %v\n%s", err, coord.out.String())
		}
		for n, m := range members {
			if err := m.wait(); err != nil || !strings.Contains(m.out.String(), "federation: member "+n+" done") {
				t.Fatalf("member %s: %v\n%s", n, err, m.out.String())
			}
		}
		got, digest := verifyDir(t, dir, mods)
		if want := oneHostDigest(t, mods, ticks); got != ticks || digest != want {
			t.Fatalf("the federated log verifies to %d ticks, digest %s; one host: %d ticks, %s", got, digest, ticks, want)
		}
	}
	finish(coord, members, 23)
	for _, tick := range []string{"10", "20"} {
		if _, err := os.Stat(filepath.Join(dir, "checkpoints", "ckpt-t0000000000"+tick+".lsc")); err != nil {
			t.Fatalf("no checkpoint of t%s: %v", tick, err)
		}
	}
	coord, members, _, _ = startFederation(t, 35, dir, []string{"m3"}, roleFlags{coord: []string{"--checkpoint-every", "10"}})
	finish(coord, members, 35)
}

// TestServeFederationMemberKilled kills a member process (SIGKILL) once
// the run is past tick 6 (the coordinator logs faulty's first failure
// there): the coordinator stops the run naming the member and saying how
// to resume, and its log verifies on one host with the one-host digest of
// as many ticks. Then the coordinator is started again on its data
// directory with one new member: the run resumes from its log and goes on
// 10 ticks, still the one-host digest.
func TestServeFederationMemberKilled(t *testing.T) {
	coord, members, dir, mods := startFederation(t, 0, "", []string{"m1", "m2"}, roleFlags{})
	coord.waitFor(t, `agent \"faulty\" failed at t6`)
	if err := members["m1"].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	line := coord.waitFor(t, "not accepting input any more")
	if !strings.Contains(line, `member \"m1\"`) {
		t.Fatalf("the coordinator stopped with %s; want it to name m1", line)
	}
	coord.cmd.Process.Signal(syscall.SIGTERM)
	if err := coord.wait(); err == nil || !strings.Contains(coord.out.String(), "the run resumes from its log") {
		t.Fatalf("coordinator after SIGTERM: %v, want it to fail saying how to resume\n%s", err, coord.out.String())
	}
	if err := members["m2"].wait(); err != nil {
		t.Fatalf("member m2: %v\n%s", err, members["m2"].out.String())
	}
	ticks, digest := verifyDir(t, dir, mods)
	if ticks < 7 {
		t.Fatalf("the log holds %d ticks; the run was past t6", ticks)
	}
	if want := oneHostDigest(t, mods, ticks); digest != want {
		t.Fatalf("the federated log verifies to %d ticks, digest %s; one host: %s", ticks, digest, want)
	}

	coord, members, _, _ = startFederation(t, int(ticks)+10, dir, []string{"m3"}, roleFlags{})
	if err := coord.wait(); err != nil {
		t.Fatalf("the resumed coordinator: %v\n%s", err, coord.out.String())
	}
	if err := members["m3"].wait(); err != nil {
		t.Fatalf("member m3: %v\n%s", err, members["m3"].out.String())
	}
	resumed, digest := verifyDir(t, dir, mods)
	if want := oneHostDigest(t, mods, ticks+10); resumed != ticks+10 || digest != want {
		t.Fatalf("after the resume the log verifies to %d ticks, digest %s; one host: %d ticks, %s", resumed, digest, ticks+10, want)
	}
}

// TestServeFederationTLS runs a coordinator and a member over mutual TLS
// (a CA and a certificate for 127.0.0.1 made here): 10 ticks with the
// one-host digest. A member without the TLS flags cannot join it: it
// exits non-zero, naming the coordinator.
func TestServeFederationTLS(t *testing.T) {
	dir := t.TempDir()
	certs := tlsFiles(t, dir)
	tlsFlags := []string{"--federation-cert", certs[0], "--federation-key", certs[1], "--federation-ca", certs[2]}
	coord, members, data, mods := startFederation(t, 10, "", []string{"m1"}, roleFlags{coord: tlsFlags, member: tlsFlags})
	if err := coord.wait(); err != nil {
		t.Fatalf("coordinator: %v\n%s", err, coord.out.String())
	}
	if err := members["m1"].wait(); err != nil {
		t.Fatalf("member: %v\n%s", err, members["m1"].out.String())
	}
	got, digest := verifyDir(t, data, mods)
	if want := oneHostDigest(t, mods, 10); got != 10 || digest != want {
		t.Fatalf("the log verifies to %d ticks, %s; one host: %s", got, digest, want)
	}

	// A coordinator with TLS, waiting for a member; one without TLS
	// cannot reach it.
	coord = startProc(t, append([]string{"serve", "--data-dir", filepath.Join(dir, "d1"), "--module-dir", mods, "--federation", "coordinator",
		"--federation-listen", "127.0.0.1:0", "--members", "1", "--token-file", filepath.Join(dir, "token"), "--join-timeout", "30s"}, tlsFlags...)...)
	line := coord.waitFor(t, "federation: waiting for")
	plain := startProc(t, "serve", "--federation", "member", "--join", line[strings.LastIndex(line, " ")+1:], "--name", "plain",
		"--token-file", filepath.Join(dir, "token"), "--module-dir", mods, "--allow-unsigned", "--join-timeout", "3s")
	if err := plain.wait(); err == nil || !strings.Contains(plain.out.String(), "the coordinator at 127.0.0.1:") {
		t.Fatalf("a member without TLS joined a TLS coordinator: %v\n%s", err, plain.out.String())
	}
	coord.cmd.Process.Kill()
}

// tlsFiles writes a CA and a certificate and key for 127.0.0.1 signed by
// it into dir, and a token file; it returns the certificate, key and CA
// paths.
func tlsFiles(t *testing.T, dir string) [3]string {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lockstep test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "lockstep test process"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	paths := [3]string{filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")}
	for i, b := range []*pem.Block{{Type: "CERTIFICATE", Bytes: der}, {Type: "EC PRIVATE KEY", Bytes: keyDER}, {Type: "CERTIFICATE", Bytes: caDER}} {
		if err := os.WriteFile(paths[i], pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("the TLS test's shared token, long\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return paths
}

// TestServeFederationFlags: bad federation flags are refused before
// anything starts, each naming the flag and the fix.
func TestServeFederationFlags(t *testing.T) {
	dir := t.TempDir()
	tok, short := filepath.Join(dir, "token"), filepath.Join(dir, "short")
	if err := os.WriteFile(tok, []byte("a shared secret of the flag test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, []byte("tiny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "d")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--federation", "leader"}, `--federation "leader": give coordinator or member`},
		{[]string{"--federation", "coordinator", "--data-dir", data}, "--token-file: a federated run needs a shared secret"},
		{[]string{"--federation", "coordinator", "--data-dir", data, "--token-file", short}, "at least 16 are needed"},
		{[]string{"--federation", "coordinator", "--data-dir", data, "--token-file", tok, "--place", "a"}, `--place "a": give id=process`},
		{[]string{"--federation", "coordinator", "--data-dir", data, "--token-file", tok, "--place-model", "=m1"}, `--place-model "=m1"`},
		{[]string{"--federation", "coordinator", "--data-dir", data, "--token-file", tok, "--federation-cert", "c.pem"}, "go together"},
		{[]string{"--federation", "coordinator", "--data-dir", data, "--token-file", tok, "--federation-listen", "nowhere"}, `listen address "nowhere"`},
		{[]string{"--federation", "coordinator", "--data-dir", data, "--token-file", tok, "--members", "0"}, "at least one member"},
		{[]string{"--federation", "member", "--token-file", tok}, "--join: give the coordinator's"},
		{[]string{"--federation", "member", "--join", "127.0.0.1:1", "--token-file", tok, "--name", "coordinator"}, `member name "coordinator" is not allowed`},
	} {
		out, err := agenthost(t, append([]string{"serve"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error()+out, c.want) {
			t.Errorf("serve %v: %v\n%s\nwant an error saying %q", c.args, err, out, c.want)
		}
	}
}
