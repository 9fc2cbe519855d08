package e2e

// One server per FerretDB 1.x database (its conditional updates are not
// atomic: the store's probe finds that out): a second serve on the same database
// exits non-zero and says why; management commands next to the server
// work, except those that update what the server updates; a server
// stopped cleanly, or killed, is replaced at once.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/timecamp/timecamp-scim/store/mongodb"
	"github.com/timecamp/timecamp-scim/store/storetest"
)

func TestSecondServerOnFerretDBRefused(t *testing.T) {
	f := storetest.StartFerretDB(t)
	s := startServer(t, "SCIM_MONGODB_URI="+f.URI(), "SCIM_MONGODB_DATABASE="+storetest.DatabaseName())
	if !strings.Contains(s.logs.String(), "holding the database lease") {
		t.Errorf("the server does not say it holds the lease:\n%s", s.logs)
	}

	out, code, took := s.serveAgain(t, 2*mongodb.LeaseTTL)
	if code == 0 || !strings.Contains(out, "another timecamp-scim server is running on this database") ||
		!strings.Contains(out, "read-modify-write") || !strings.Contains(out, "use MongoDB") {
		t.Fatalf("a second serve on the database: exit %d after %s:\n%s", code, took, out)
	}
	if took > mongodb.LeaseRenewEvery+5*time.Second {
		t.Errorf("the second serve was refused only after %s", took)
	}
	t.Logf("second serve refused in %s, exit %d: %s", took.Round(time.Millisecond), code, lastLine(out))

	// Next to the server: reads, inserts and deletes work; changes to what
	// the server changes too are refused, saying why.
	for _, args := range [][]string{
		{"accounts", "list"},
		{"accounts", "show", "default"},
		{"accounts", "create", "--name", "Other"},
		{"tokens", "create", "--account", "default", "--name", "okta"},
		{"tokens", "list", "--account", "default"},
		{"accounts", "check", "default"},
	} {
		if out, err := s.run(args...); err != nil {
			t.Errorf("%v next to the server: %v\n%s", args, err, out)
		}
	}
	for _, args := range [][]string{
		{"accounts", "set-seats", "default", "5"},
		{"accounts", "set-invitations", "default", "off"},
		{"accounts", "check", "default", "--repair"},
	} {
		_, err := s.run(args...)
		if err == nil || !strings.Contains(err.Error(), "a server is running on this database") || !strings.Contains(err.Error(), "stop the server") {
			t.Errorf("%v next to the server: %v", args, err)
		}
	}

	// Stopped cleanly, the server releases the lease: the next starts at
	// once, and the refused commands work while none runs.
	s.stop()
	if out, err := s.run("accounts", "set-seats", "default", "5"); err != nil {
		t.Errorf("set-seats with no server running: %v\n%s", err, out)
	}
	start := time.Now()
	s.start()
	t.Logf("restarted after a clean stop in %s", time.Since(start).Round(time.Millisecond))

	// Killed, its lease stays; a server started on this machine sees that
	// its holder is gone and takes it at once.
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s.cmd.Wait()
	s.cmd = nil
	start = time.Now()
	s.start()
	if took := time.Since(start); took > mongodb.LeaseTTL/2 {
		t.Errorf("a server started after a kill waited %s for the lease", took)
	}
	t.Logf("restarted after SIGKILL in %s", time.Since(start).Round(time.Millisecond))
	s.Client.Get(t, "/Users").Expect(t, 200)
}

// serveAgain runs a second serve with the server's settings on another
// port and returns its output and exit status, killing it after within.
func (s *server) serveAgain(t *testing.T, within time.Duration) (string, int, time.Duration) {
	t.Helper()
	cmd := exec.Command(binary, "serve")
	cmd.Env = append(os.Environ(), "SCIM_ADDR="+freeAddr(t), "SCIM_DATA_DIR="+s.dataDir, "SCIM_BOOTSTRAP_TOKEN="+s.token)
	cmd.Env = append(cmd.Env, s.env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("a second serve still runs after %s:\n%s", within, out.String())
	}
	took := time.Since(start)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), exit.ExitCode(), took
	}
	return out.String(), 0, took
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
