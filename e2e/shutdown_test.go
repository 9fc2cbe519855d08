package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowBulk is a Bulk request that creates n users one at a time
// (failOnErrors makes the server run them singly), so that it takes a
// while.
func slowBulk(prefix string, n int) []byte {
	ops := make([]any, n)
	for i := range ops {
		ops[i] = obj{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i),
			"data": obj{"schemas": arr{userURN}, "userName": fmt.Sprintf("%s%d@acme.test", prefix, i)}}
	}
	raw, _ := json.Marshal(obj{"schemas": arr{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "failOnErrors": n, "Operations": ops})
	return raw
}

type bulkReply struct {
	status int
	body   []byte
	err    error
}

// sendBulk posts a Bulk request in the background.
func sendBulk(s *server, body io.Reader) <-chan bulkReply {
	done := make(chan bulkReply, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.Client.Base+"/Bulk", body)
		req.Header.Set("Authorization", "Bearer "+s.token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- bulkReply{err: err}
			return
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		done <- bulkReply{status: resp.StatusCode, body: raw, err: err}
	}()
	return done
}

// waitForUsers waits until the server has created at least one user: the
// Bulk request is being processed.
func waitForUsers(t *testing.T, s *server) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for num(s.Client.Get(t, "/Users?count=0"), "totalResults") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the Bulk request created no user in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exited waits for the server process to end and returns how.
func exited(t *testing.T, s *server, within time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		s.cmd = nil
		return err
	case <-time.After(within):
		t.Fatalf("the server did not exit within %v of SIGTERM", within)
	}
	return nil
}

// SIGTERM during a request: the server stops accepting connections, the
// request completes with its result, and the process exits 0 with its
// data stored. The request is under way when SIGTERM comes and can only
// end after it, however fast the machine runs it: its headers and half its
// body are sent before, the rest after. With one request slot, another
// request answering 503 shows that the server is serving it (a connection
// it has not yet accepted would be dropped by the shutdown).
func TestShutdownFinishesRequestsInProgress(t *testing.T) {
	s := startServer(t, "SCIM_MAX_CONCURRENT_REQUESTS=1")
	const n = 120
	raw := slowBulk("drain", n)
	pr, pw := io.Pipe()
	reply := sendBulk(s, pr)
	if _, err := pw.Write(raw[:len(raw)/2]); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); s.Client.Get(t, "/Users?count=0").Status != http.StatusServiceUnavailable; {
		if time.Now().After(deadline) {
			t.Fatal("the Bulk request did not take the server's one request slot in 30s")
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New connections are refused while the request is still running.
	refused := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			refused = true
			break
		}
		conn.Close()
	}
	if !refused {
		t.Error("the server still accepted connections 5s after SIGTERM")
	}
	if _, err := pw.Write(raw[len(raw)/2:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()

	var r bulkReply
	select {
	case r = <-reply:
	case <-time.After(60 * time.Second):
		t.Fatal("no answer to the Bulk request within 60s of SIGTERM")
	}
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("Bulk request: %d %v %.300s", r.status, r.err, r.body)
	}
	var body struct{ Operations []obj }
	if err := json.Unmarshal(r.body, &body); err != nil || len(body.Operations) != n {
		t.Fatalf("Bulk response with %d results (%v): %.300s", len(body.Operations), err, r.body)
	}
	for _, op := range body.Operations {
		if op["status"] != "201" {
			t.Fatalf("operation %v", op)
		}
	}
	if !refused {
		return
	}
	if err := exited(t, s, 30*time.Second); err != nil {
		t.Fatalf("exit: %v; logs:\n%s", err, problems(s.logs.String()))
	}
	logs := s.logs.String()
	for _, want := range []string{"shutting down", "every request finished", "invitation worker stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	// The access log line of a request is written when it ends: the Bulk
	// request ended after the shutdown began.
	if bulk := strings.Index(logs, "path=/scim/v2/Bulk"); bulk < strings.Index(logs, "shutting down") {
		t.Errorf("the Bulk request ended before SIGTERM:\n%s", logs)
	}

	// Every user the response acknowledged is there after a restart.
	s.start()
	if got := num(s.Client.Get(t, "/Users?count=0"), "totalResults"); got != n {
		t.Fatalf("%d users after the restart, want %d", got, n)
	}
}

// A request still running at SCIM_SHUTDOWN_TIMEOUT is cancelled, and the
// process says so with a non-zero exit status.
func TestShutdownTimeoutCancelsRequests(t *testing.T) {
	s := startServer(t, "SCIM_SHUTDOWN_TIMEOUT=300ms")
	reply := sendBulk(s, bytes.NewReader(slowBulk("late", 1000)))
	waitForUsers(t, s)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := exited(t, s, 30*time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1", err)
	}
	if !strings.Contains(s.logs.String(), "cancelling them") || !strings.Contains(s.logs.String(), "SCIM_SHUTDOWN_TIMEOUT") {
		t.Errorf("the log does not tell that requests were cancelled:\n%s", problems(s.logs.String()))
	}
	if r := <-reply; r.err == nil && r.status == http.StatusOK && bytes.Count(r.body, []byte(`"201"`)) == 1000 {
		t.Error("the whole Bulk request ran although it was cancelled")
	}
}
