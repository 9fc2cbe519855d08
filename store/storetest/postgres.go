package storetest

// A private PostgreSQL server for FerretDB's PostgreSQL backend: the
// benchmarks of the MongoDB store run there (FerretDB's SQLite backend
// evaluates every filter in Go and measures nothing but itself).

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// postgres is a PostgreSQL cluster in a folder of its own.
type postgres struct {
	bin  string // the folder of initdb and pg_ctl
	data string
	port int
	cred *syscall.Credential
}

// postgresBin returns the folder of PostgreSQL's server programs, if they
// are installed (Debian: the postgresql package).
func postgresBin() (string, bool) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), true
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(found) == 0 {
		return "", false
	}
	sort.Strings(found)
	return filepath.Dir(found[len(found)-1]), true
}

// startPostgres initialises and starts a cluster under dir, listening on
// a free port of 127.0.0.1 (and a socket in dir), trusting local
// connections. PostgreSQL refuses to run as root: as root it runs as the
// postgres user.
func startPostgres(dir string) (*postgres, error) {
	bin, ok := postgresBin()
	if !ok {
		return nil, errors.New("PostgreSQL is not installed (apt-get install postgresql)")
	}
	p := &postgres{bin: bin, data: filepath.Join(dir, "data")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := p.run("initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", p.port, dir)
	if err := p.run("pg_ctl", "-D", p.data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start"); err != nil {
		return nil, err
	}
	return p, nil
}

// URL is the connection string of the cluster's postgres database.
func (p *postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", p.port)
}

func (p *postgres) stop() {
	_ = p.run("pg_ctl", "-D", p.data, "-m", "fast", "-w", "stop")
}

func (p *postgres) run(prog string, args ...string) error {
	cmd := exec.Command(filepath.Join(p.bin, prog), args...)
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	cmd.Dir = os.TempDir()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v\n%s", prog, err, out.Bytes())
	}
	return nil
}

// postgresFerret is the FerretDB-on-PostgreSQL server shared by a test
// binary's benchmarks.
var postgresFerret struct {
	once sync.Once
	pg   *postgres
	dir  string
	f    *FerretDB
	err  error
}

// PostgresURI returns the URI of a FerretDB on a private PostgreSQL
// cluster, started on first use and stopped by Main; the test is skipped
// when PostgreSQL is not installed.
func PostgresURI(t testing.TB) string {
	t.Helper()
	if _, ok := postgresBin(); !ok {
		t.Skip("PostgreSQL is not installed (apt-get install postgresql): FerretDB's PostgreSQL backend is not available")
	}
	uri, err := postgresURI()
	if err != nil {
		t.Fatalf("start FerretDB on PostgreSQL: %v", err)
	}
	return uri
}

func postgresURI() (string, error) {
	s := &postgresFerret
	s.once.Do(func() {
		if s.dir, s.err = os.MkdirTemp("", "scimtest-pg"); s.err != nil {
			return
		}
		if s.pg, s.err = startPostgres(s.dir); s.err != nil {
			return
		}
		s.f, s.err = startFerretDB("postgresql", s.pg.URL())
	})
	if s.err != nil {
		return "", s.err
	}
	return s.f.URI(), nil
}

func stopPostgresFerret() {
	s := &postgresFerret
	if s.f != nil {
		s.f.Stop()
	}
	if s.pg != nil {
		s.pg.stop()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}
