// Command ferretdb runs FerretDB 1.24 as a process of its own: the test
// database of the MongoDB store (package store/storetest builds it once
// and starts one per test binary), kept out of the product's go.mod so
// that the release binary does not carry FerretDB.
//
// It wraps FerretDB's library package rather than building FerretDB's own
// cmd/ferretdb: that command refuses to start unless it is built from a
// FerretDB checkout (it reads its version from a generated file the module
// does not ship).
//
// Once listening it prints the connection URI as its first line of output
// (so -listen 127.0.0.1:0 picks a free port without a race), then serves
// until it receives SIGINT or SIGTERM, or, with -watch-stdin, until its
// standard input closes (the test process that started it ended, however
// it ended).
//
//	ferretdb -listen 127.0.0.1:0 -handler sqlite -sqlite-url file:/tmp/db/
//	ferretdb -listen 127.0.0.1:0 -handler postgresql -postgresql-url postgres://127.0.0.1:5432/ferretdb
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (port 0: a free one)")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	sqliteURL := flag.String("sqlite-url", "file:data/", "SQLite URI of the folder holding the databases (sqlite handler)")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL connection string (postgresql handler)")
	logLevel := flag.String("log-level", "error", "least level logged: debug, info, warn or error")
	watchStdin := flag.Bool("watch-stdin", false, "stop when standard input closes")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Handler:       *handler,
		SQLiteURL:     *sqliteURL,
		PostgreSQLURL: *pgURL,
		Logger:        log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}
	fmt.Println(f.MongoDBURI())
	if err := f.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}
