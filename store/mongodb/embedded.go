package mongodb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// maxSocketPath is the longest Unix socket path Linux accepts (sun_path is
// 108 bytes including the terminating NUL).
const maxSocketPath = 107

// SocketPath is where the embedded database of a data folder listens. The
// management commands use it to reach the database of a running server
// instead of opening the files a second time.
func SocketPath(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	p := filepath.Join(abs, "ferretdb.sock")
	if len(p) <= maxSocketPath {
		return p
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(os.TempDir(), "timecamp-scim-"+hex.EncodeToString(sum[:8])+".sock")
}

// embedded is a FerretDB instance started in this process (SQLite handler,
// files under the data folder), listening on a Unix socket only: nothing
// outside this machine, and no other user, can reach it.
type embedded struct {
	uri  string
	stop context.CancelFunc
	done chan struct{}
}

// runningEmbedded returns the URI of a database another process (a running
// server) serves from dataDir, if there is one.
func runningEmbedded(dataDir string) (string, bool) {
	sock := SocketPath(dataDir)
	if _, err := os.Stat(sock); err != nil {
		return "", false
	}
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		// A socket left behind by a process that stopped without cleaning up.
		_ = os.Remove(sock)
		return "", false
	}
	_ = c.Close()
	return socketURI(sock), true
}

func socketURI(sock string) string {
	return "mongodb://" + urlPathEscape(sock) + "/"
}

func urlPathEscape(s string) string {
	out := make([]byte, 0, len(s)*3)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '/' || c == ':' || c == '%' || c == ' ' {
			out = append(out, fmt.Sprintf("%%%02X", c)...)
			continue
		}
		out = append(out, c)
	}
	return string(out)
}

func startEmbedded(dataDir string, log *slog.Logger) (*embedded, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, err
	}
	sock := SocketPath(dataDir)
	_ = os.Remove(sock) // a stale socket from an earlier run
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{Unix: sock},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
		Logger:    log.With("component", "embedded-db"),
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded database: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	// The listener is ready once the socket accepts a connection.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			cancel()
			return nil, errors.New("embedded database did not start listening within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = os.Chmod(sock, 0o600)
	return &embedded{uri: socketURI(sock), stop: cancel, done: done}, nil
}

func (e *embedded) close() {
	e.stop()
	<-e.done
}

// StartEmbedded starts an embedded database on its own (tests share one
// across a test binary) and returns its URI and a function that stops it.
func StartEmbedded(dataDir string, log *slog.Logger) (string, func(), error) {
	e, err := startEmbedded(dataDir, slog.New(errorsOnly{log.Handler()}))
	if err != nil {
		return "", nil, err
	}
	return e.uri, e.close, nil
}
