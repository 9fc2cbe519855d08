//go:build pprof

package main

// Built with -tags pprof (never in a release), the server also serves
// net/http/pprof on SCIM_PPROF_ADDR, for profiling it under load
// (docs/performance.md):
//
//	go build -tags pprof -o timecamp-scim ./cmd/timecamp-scim
//	SCIM_PPROF_ADDR=127.0.0.1:6060 ./timecamp-scim serve
//	go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=10

import (
	"log"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

func init() {
	if addr := os.Getenv("SCIM_PPROF_ADDR"); addr != "" {
		go func() { log.Println(http.ListenAndServe(addr, nil)) }()
	}
}
