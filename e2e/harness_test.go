// Package e2e tests the built timecamp-scim binary as a user runs it: a
// real process with the embedded database in a temporary folder, reached
// over HTTP on a free port.
package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/scim/scimtest"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

// binary is the timecamp-scim built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "timecamp-scim-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "timecamp-scim")
	build := exec.Command("go", "build", "-o", binary, "../cmd/timecamp-scim")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	storetest.Stop() // the MongoDB test database of TestStoreCopyToMongoDB
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running timecamp-scim serve.
type server struct {
	t       *testing.T
	dataDir string
	addr    string
	token   string
	env     []string
	cmd     *exec.Cmd
	logs    *bytes.Buffer
	// Client talks to the server with the bootstrap token.
	Client *scimtest.Client
}

// startServer starts "serve" on a free port with a new data folder and a
// random bootstrap token; extra are more environment settings.
func startServer(t *testing.T, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: filepath.Join(t.TempDir(), "data"), token: randomToken(), env: extra}
	s.start()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() && s.logs != nil {
			t.Logf("server logs (errors and warnings):\n%s", problems(s.logs.String()))
		}
	})
	return s
}

func (s *server) start() {
	s.t.Helper()
	s.startAt(freeAddr(s.t))
}

// startAt starts "serve" on addr (a port chosen before, when another
// program must know it first).
func (s *server) startAt(addr string) {
	s.t.Helper()
	s.addr = addr
	s.logs = &bytes.Buffer{}
	s.cmd = exec.Command(binary, "serve")
	s.cmd.Env = append(os.Environ(),
		"SCIM_ADDR="+s.addr,
		"SCIM_DATA_DIR="+s.dataDir,
		"SCIM_BOOTSTRAP_TOKEN="+s.token,
	)
	s.cmd.Env = append(s.cmd.Env, s.env...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start server: %v", err)
	}
	s.Client = &scimtest.Client{Base: "http://" + s.addr + "/scim/v2", Token: s.token}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			s.t.Fatalf("server not ready after 60s; logs:\n%s", s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server with SIGTERM, as an operator would.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// restart stops the server and starts it again on the same data folder.
func (s *server) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// run runs a management command of the binary against the server's data
// folder and returns its standard output.
func (s *server) run(args ...string) (string, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "SCIM_DATA_DIR="+s.dataDir)
	cmd.Env = append(cmd.Env, s.env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// problems returns the log lines above info level (the access log is long).
func problems(logs string) string {
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		if line != "" && !strings.Contains(line, "level=INFO") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "e2e-" + hex.EncodeToString(b)
}
