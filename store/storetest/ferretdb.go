package storetest

// FerretDB, the test database of the MongoDB store, runs as a process of
// its own: the product's module does not carry it (it is built from the
// tools/ferretdb module), and a process can be killed like a real database
// server.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FerretDB is a FerretDB process serving one data folder (SQLite backend)
// or one PostgreSQL database.
type FerretDB struct {
	uri     string
	addr    string // host:port, kept across Restart
	handler string
	backend string // the SQLite folder, or the PostgreSQL URL

	mu    sync.Mutex
	log   string // the process's log file
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// StartFerretDB starts a FerretDB process of the test's own, on the SQLite
// backend in a temporary folder, stopped when the test ends. Tests of what
// happens when the database dies use it (Kill, Restart); the others share
// the one URI returns.
func StartFerretDB(t testing.TB) *FerretDB {
	t.Helper()
	f, err := startFerretDB("sqlite", t.TempDir())
	if err != nil {
		t.Fatalf("start FerretDB: %v", err)
	}
	t.Cleanup(f.Stop)
	return f
}

// URI is the database's connection string.
func (f *FerretDB) URI() string { return f.uri }

// Kill ends the process with SIGKILL, as a crash would.
func (f *FerretDB) Kill() {
	f.mu.Lock()
	cmd, done := f.cmd, f.done
	f.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	_ = f.stdin.Close()
}

// Pause stops the process (SIGSTOP) with its connections open, as a
// database server that hangs; Resume lets it go on.
func (f *FerretDB) Pause() { f.signal(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (f *FerretDB) Resume() { f.signal(syscall.SIGCONT) }

func (f *FerretDB) signal(sig syscall.Signal) {
	f.mu.Lock()
	cmd := f.cmd
	f.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// Stop ends the process with SIGTERM (SIGKILL if it does not end in ten
// seconds).
func (f *FerretDB) Stop() {
	f.mu.Lock()
	cmd, done := f.cmd, f.done
	f.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		_ = f.stdin.Close()
	case <-time.After(10 * time.Second):
		f.Kill()
	}
	_ = os.Remove(f.log)
}

// Restart starts the process again on the same data and address, after
// Kill or Stop.
func (f *FerretDB) Restart() error {
	f.Stop()
	return f.run(f.addr)
}

func startFerretDB(handler, backend string) (*FerretDB, error) {
	f := &FerretDB{handler: handler, backend: backend}
	if err := f.run("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *FerretDB) run(addr string) error {
	bin, err := FerretDBBinary()
	if err != nil {
		return err
	}
	args := []string{"-listen", addr, "-handler", f.handler, "-watch-stdin"}
	if f.handler == "sqlite" {
		args = append(args, "-sqlite-url", "file:"+f.backend+"/")
	} else {
		args = append(args, "-postgresql-url", f.backend)
	}
	cmd := exec.Command(bin, args...)
	// FerretDB logs every failed statement (each duplicate key the tests
	// provoke) as an error: its log goes to a file, shown if it fails to
	// start.
	logFile, err := os.CreateTemp("", "ferretdb-*.log")
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	failed := func(why string) error {
		b, _ := os.ReadFile(logFile.Name())
		return fmt.Errorf("%s; its log (%s):\n%s", why, logFile.Name(), b)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	// The process stops when this pipe closes: when the test process
	// ends, however it ends, FerretDB does too.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case uri, ok := <-line:
		if !ok || !strings.HasPrefix(uri, "mongodb://") {
			_ = cmd.Process.Kill()
			<-done
			return failed("FerretDB did not start")
		}
		f.mu.Lock()
		f.cmd, f.stdin, f.done, f.uri, f.log = cmd, stdin, done, uri, logFile.Name()
		f.addr = strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/")
		f.mu.Unlock()
		return nil
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		return failed("FerretDB did not start listening within a minute")
	}
}

// FerretDBBinary returns the path of the FerretDB program the tests run,
// building it from the tools/ferretdb module the first time (a few
// minutes on a cold build cache). It is kept in the user's cache folder
// under a name made of FerretDB's version and a hash of the module's
// files, so that a change to either builds it anew; concurrent test
// processes build it once.
func FerretDBBinary() (string, error) {
	ferretBin.once.Do(func() { ferretBin.path, ferretBin.err = buildFerretDB() })
	return ferretBin.path, ferretBin.err
}

var ferretBin struct {
	once sync.Once
	path string
	err  error
}

func buildFerretDB() (string, error) {
	src, err := ferretDBSource()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	var version string
	for _, name := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return "", err
		}
		h.Write(b)
		if name == "go.mod" {
			m := regexp.MustCompile(`github\.com/FerretDB/FerretDB (v\S+)`).FindSubmatch(b)
			if m == nil {
				return "", errors.New("tools/ferretdb/go.mod names no FerretDB version")
			}
			version = string(m[1])
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "timecamp-scim", "ferretdb-"+version+"-"+hex.EncodeToString(h.Sum(nil))[:12])
	bin := filepath.Join(dir, "ferretdb")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// One build at a time: go test runs several test binaries at once.
	lock, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // built by another process meanwhile
	}
	tmp := bin + ".tmp"
	cmd := exec.Command("go", "build", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build FerretDB from %s: %v\n%s", src, err, out.Bytes())
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "storetest: built FerretDB %s in %s (%s)\n", version, time.Since(start).Round(time.Second), bin)
	return bin, nil
}

// ferretDBSource returns the folder of the tools/ferretdb module: in the
// repository this package is part of.
func ferretDBSource() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("storetest: cannot locate the repository")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "tools", "ferretdb")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("storetest: FerretDB's module is not at %s: %w", dir, err)
	}
	return dir, nil
}
